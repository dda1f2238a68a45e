/** Follows a dotted path (`data.items`, `meta.next_cursor`) into a JSON body. */
export const at = (body: unknown, path: string | undefined): unknown => {
  if (path === undefined || path === "") return body
  let value: unknown = body
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object") return undefined
    value = (value as Record<string, unknown>)[part]
  }
  return value
}

/** Describes what was found where an array was expected, for messages. */
export const kindOf = (value: unknown): string =>
  value === undefined
    ? "nothing"
    : value === null
      ? "null"
      : Array.isArray(value)
        ? "an array"
        : typeof value === "object"
          ? "an object"
          : `a ${typeof value}`

/** The `rel="next"` target of a `Link` header (RFC 8288). */
export const nextLink = (header: string | undefined): string | undefined => {
  if (!header) return undefined
  for (const match of header.matchAll(/<([^>]*)>([^,<]*)/g)) {
    const rel = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(match[2] ?? "")
    if (rel && rel[1]!.split(/\s+/).includes("next")) return match[1]
  }
  return undefined
}
