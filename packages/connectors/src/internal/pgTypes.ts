import pg from "pg"

/**
 * How PostgreSQL values become JavaScript, for this source's pool only (never the global
 * `pg.types`, which other users of `pg` in the process rely on). The session runs in UTC.
 *
 * - `int8` (bigint, bigserial, count) -> `bigint`; `numeric` -> `string` (exact decimal text)
 * - `timestamptz` -> `Date`; `timestamp` (without time zone) -> `Date`, its wall time read as UTC
 * - `date` -> `"YYYY-MM-DD"` text (a calendar day has no time zone); `time`, `interval` -> text
 * - `infinity` timestamps -> the text `"infinity"` / `"-infinity"`
 * - `json`, `jsonb` -> parsed; `bytea` -> base64 text (file fields); other types: `pg` defaults
 */
const OID = {
  int8: 20,
  int8Array: 1016,
  bytea: 17,
  date: 1082,
  dateArray: 1182,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
} as const

const text = (value: string) => value

/** The number written at `value[from, to)`, or -1 if a character there is not a digit. */
const digits = (value: string, from: number, to: number): number => {
  let n = 0
  for (let i = from; i < to; i++) {
    const d = value.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/**
 * `2024-05-01 10:00:00.123456` (then `+00` for `timestamptz`, which a UTC session always
 * prints) read as UTC, by character codes: the default parser's regular expressions were the
 * largest single cost of reading a table (`bench/sources.ts`). Anything else (years before
 * 100 or after 9999, BC, infinity) returns `undefined` for the general parsers. Sub-millisecond
 * digits are dropped, as `pg` does.
 */
export const fastUtc = (value: string, suffix: "" | "+00"): Date | undefined => {
  const end = value.length - suffix.length
  if (end < 19 || (suffix !== "" && !value.endsWith(suffix))) return undefined
  if (value[4] !== "-" || value[7] !== "-" || value[10] !== " " || value[13] !== ":" || value[16] !== ":")
    return undefined
  const year = digits(value, 0, 4)
  const month = digits(value, 5, 7)
  const day = digits(value, 8, 10)
  const hour = digits(value, 11, 13)
  const minute = digits(value, 14, 16)
  const second = digits(value, 17, 19)
  if (year < 100 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return undefined
  let ms = 0
  if (end > 19) {
    if (value[19] !== "." || end === 20 || end > 26) return undefined
    const fraction = digits(value, 20, end)
    if (fraction < 0) return undefined
    ms = Math.floor(fraction / 10 ** (end - 23))
  }
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms))
}

const timestamp = (value: string): Date | string => {
  const fast = fastUtc(value, "")
  if (fast !== undefined) return fast
  const date = new Date(`${value.replace(" ", "T")}Z`)
  return Number.isNaN(date.getTime()) ? value : date
}

const defaultTimestamptz = pg.types.getTypeParser(OID.timestamptz, "text") as (value: string) => unknown
const timestamptz = (value: string): unknown => {
  const fast = fastUtc(value, "+00")
  if (fast !== undefined) return fast
  // The default parser gives a number for `infinity`, `null` for what it cannot read: keep the text.
  const date = defaultTimestamptz(value)
  return date instanceof Date && !Number.isNaN(date.getTime()) ? date : value
}

const defaultInt8Array = (
  pg.types.getTypeParser as (oid: number, format: "text") => (value: string) => unknown
)(OID.int8Array, "text")
const int8Array = (value: string): unknown => {
  const toBigInt = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(toBigInt) : v === null ? null : BigInt(v as string | number)
  return toBigInt(defaultInt8Array(value))
}

const bytea = (value: string): string =>
  value.startsWith("\\x")
    ? Buffer.from(value.slice(2), "hex").toString("base64")
    : Buffer.from(pg.types.getTypeParser(OID.bytea, "text")(value) as Buffer).toString("base64")

const parsers = new Map<number, (value: string) => unknown>([
  [OID.int8, (v) => BigInt(v)],
  [OID.int8Array, int8Array],
  [OID.bytea, bytea],
  [OID.date, text],
  [OID.timestamp, timestamp],
  [OID.timestamptz, timestamptz],
  [OID.interval, text],
])

/** The `types` option of this source's pool. */
export const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (format === undefined || format === "text") {
      const parser = parsers.get(oid)
      if (parser) return parser
    }
    return pg.types.getTypeParser(oid, format ?? "text")
  }) as pg.CustomTypesConfig["getTypeParser"],
}
