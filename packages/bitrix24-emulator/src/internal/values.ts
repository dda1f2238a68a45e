/** Small coercions shared by the method handlers: PHP-like types, numbers from form strings, dates. */

/** PHP's name for a JSON value's type, as the portal's error messages print it. */
export const phpType = (v: unknown): string => {
  if (v === null || v === undefined) return "NULL"
  if (typeof v === "string") return "string"
  if (typeof v === "boolean") return "boolean"
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "double"
  return "array"
}

/** Arrays and plain objects (PHP arrays) are iterable; scalars are not. */
export const isIterable = (v: unknown): v is ReadonlyArray<unknown> | Record<string, unknown> =>
  Array.isArray(v) || (typeof v === "object" && v !== null)

export const toList = (v: ReadonlyArray<unknown> | Record<string, unknown>): ReadonlyArray<unknown> =>
  Array.isArray(v) ? v : Object.values(v)

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/** A positive integer from a number or a numeric string, else undefined. */
export const toId = (v: unknown): number | undefined => {
  const n =
    typeof v === "number" ? v : typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN
  return Number.isInteger(n) && n > 0 ? n : undefined
}

export const toInt = (v: unknown): number | undefined => {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN
  return Number.isFinite(n) ? Math.trunc(n) : undefined
}

export const isEmpty = (v: unknown): boolean =>
  v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)

/** Bitrix24's datetime format: `2024-08-11T22:22:41+00:00`. */
export const formatDateTime = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}+00:00`

export const formatDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** Milliseconds from a date or datetime string (ISO 8601, with or without zone), else undefined. */
export const parseTime = (v: unknown): number | undefined => {
  if (typeof v !== "string" || v.trim() === "") return undefined
  const ms = Date.parse(v)
  return Number.isNaN(ms) ? undefined : ms
}

/** Y/N from booleans, 1/0 and Y/N strings. */
export const toYN = (v: unknown): unknown => {
  if (v === true || v === 1 || v === "1" || v === "Y" || v === "y" || v === "true") return "Y"
  if (v === false || v === 0 || v === "0" || v === "N" || v === "n" || v === "false") return "N"
  return v
}

/** Whether a request flag (`Y`, `true`, `1`) is set. */
export const isYes = (v: unknown): boolean => v === true || v === "Y" || v === "y" || v === 1 || v === "1"
