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

const timestamp = (value: string): Date | string => {
  const date = new Date(`${value.replace(" ", "T")}Z`)
  return Number.isNaN(date.getTime()) ? value : date
}

const defaultTimestamptz = pg.types.getTypeParser(OID.timestamptz, "text") as (value: string) => unknown
const timestamptz = (value: string): unknown => {
  const date = defaultTimestamptz(value)
  return date instanceof Date && Number.isNaN(date.getTime()) ? value : date
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
