/**
 * PHP-style query strings, for the commands of a `batch` (`crm.item.update?entityTypeId=2&id=5&fields[title]=Acme`).
 * Empty lists and `null` are sent as an empty value, which the portal reads as "clear the field".
 */
export const encode = (params: Readonly<Record<string, unknown>>): string => {
  const parts: Array<string> = []
  const put = (key: string, value: string): void => {
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
  }
  const visit = (key: string, value: unknown): void => {
    if (value === undefined) return
    if (value === null) {
      put(key, "")
      return
    }
    if (Array.isArray(value)) {
      if (value.length === 0) {
        put(key, "")
        return
      }
      value.forEach((v, i) => visit(`${key}[${i}]`, v))
      return
    }
    if (typeof value === "object") {
      const entries = Object.entries(value as Record<string, unknown>)
      if (entries.length === 0) {
        put(key, "")
        return
      }
      for (const [k, v] of entries) visit(`${key}[${k}]`, v)
      return
    }
    put(key, typeof value === "boolean" ? (value ? "Y" : "N") : String(value))
  }
  for (const [k, v] of Object.entries(params)) visit(k, v)
  return parts.join("&")
}
