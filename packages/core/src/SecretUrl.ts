/**
 * Connection URLs carry passwords. These helpers show a URL without them and take them out of
 * driver messages, which sometimes echo the URL or the password, so no secret reaches a log.
 */

const hidden = "***"
const secretParameter = /pass|secret|token|key/i

/** The URL with its password (and any `password=`/`token=`/`api_key=`-like parameter) replaced by `***`. */
export const redact = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = hidden
    for (const key of [...parsed.searchParams.keys()]) {
      if (secretParameter.test(key)) parsed.searchParams.set(key, hidden)
    }
    return parsed.toString()
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, `//$1:${hidden}@`)
  }
}

/**
 * A connection URL for messages: redacted, or, when it cannot be parsed (so where its secret is
 * cannot be told), not shown at all. `redact` keeps text that is no URL, such as a directory.
 */
export const show = (url: string): string => {
  try {
    new URL(url)
  } catch {
    return "(a connection URL that could not be parsed)"
  }
  return redact(url)
}

/** Every secret a URL holds, in the forms a driver may repeat: the URL, the password, secret parameters. */
export const secretsOf = (url: string): ReadonlyArray<string> => {
  try {
    const parsed = new URL(url)
    const fromQuery = [...parsed.searchParams].filter(([k]) => secretParameter.test(k)).map(([, v]) => v)
    const password = parsed.password
    return [url, password, password === "" ? "" : decodeURIComponent(password), ...fromQuery].filter(
      (s) => s.length > 0,
    )
  } catch {
    return [url]
  }
}

/** The text with every secret replaced by `***`, longest first (so a URL goes before its password). */
export const scrub = (text: string, secrets: ReadonlyArray<string>): string =>
  [...secrets]
    .filter((s) => s.length > 0)
    .sort((a, b) => b.length - a.length)
    .reduce((out, secret) => out.split(secret).join(hidden), text)

/**
 * Where a connection URL points, with no user or secret: `db.internal:5432/crm` (host, port when
 * given, and the database), or the origin of an HTTP URL. Undefined when it cannot be parsed.
 */
export const location = (url: string): string | undefined => {
  try {
    const parsed = new URL(url)
    if (parsed.protocol === "http:" || parsed.protocol === "https:") return parsed.origin
    const database = decodeURIComponent(parsed.pathname.replace(/^\/+/, ""))
    return `${parsed.host}${database === "" ? "" : `/${database}`}`
  } catch {
    return undefined
  }
}
