import { Redacted } from "effect"

/**
 * A connection URL as it may appear in messages: the password replaced by `***`. A URL that
 * cannot be parsed is not shown at all, since we cannot tell where its secret is.
 */
export const url = (value: string | Redacted.Redacted<string>): string => {
  const raw = Redacted.isRedacted(value) ? Redacted.value(value) : value
  try {
    const parsed = new URL(raw)
    if (parsed.password !== "") parsed.password = "***"
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(key)) parsed.searchParams.set(key, "***")
    }
    return parsed.toString().replace("%2A%2A%2A", "***")
  } catch {
    return "(a connection URL that could not be parsed)"
  }
}

/** Removes every occurrence of `secret` from `text` (driver messages may echo what they were given). */
export const scrub = (text: string, secret: string | undefined): string =>
  secret === undefined || secret.length < 3 ? text : text.split(secret).join("***")

/** The password inside a URL, to scrub it from driver messages. */
export const passwordOf = (value: string | Redacted.Redacted<string>): string | undefined => {
  const raw = Redacted.isRedacted(value) ? Redacted.value(value) : value
  try {
    const password = new URL(raw).password
    return password === "" ? undefined : decodeURIComponent(password)
  } catch {
    return undefined
  }
}
