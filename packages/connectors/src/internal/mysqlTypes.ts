/**
 * How MySQL / MariaDB values become JavaScript, matching the PostgreSQL source wherever the
 * types match. The session runs in UTC (`time_zone = '+00:00'`).
 *
 * - `BIGINT` -> `bigint`; `DECIMAL` -> `string` (exact decimal text)
 * - `TINYINT(1)` and `BIT(1)` -> `boolean`
 * - `DATETIME`, `TIMESTAMP` -> `Date` (DATETIME's wall time read as UTC); the zero date -> `null`
 * - `DATE` -> `"YYYY-MM-DD"` text, the zero date -> `null`; `TIME` -> text
 * - `JSON` (and MariaDB's JSON alias, via its extended metadata) -> parsed
 * - `BLOB`, `BINARY`, `VARBINARY`, other `BIT` -> base64 text (file fields)
 */
export type Row = Record<string, unknown>

/** The column metadata `mysql2` reports before the rows (its `fields` event). */
export interface Field {
  readonly name: string
  readonly columnType: number
  readonly columnLength: number
  /** 63 is `binary`: the only columns `mysql2` gives as Buffers. */
  readonly characterSet?: number | undefined
}

/**
 * `mysql2`'s options for a page query: DATE as text (a calendar day has no time zone);
 * DATETIME and TIMESTAMP parsed by the driver itself as UTC (the pool's `timezone: "Z"`), which
 * reads the digits straight from the packet, far cheaper than parsing text again per row.
 */
export const queryOptions = { dateStrings: ["DATE"] as Array<"DATE"> }

const BINARY_CHARSET = 63
/** Types whose values are bytes when the column's character set is `binary`. */
const STRING_TYPES = new Set([15, 249, 250, 251, 252, 253, 254, 255])

const TINY = 1
const TIMESTAMP = 7
const LONGLONG = 8
const DATE = 10
const DATETIME = 12
const BIT = 16

const base64 = (value: unknown) => (Buffer.isBuffer(value) ? value.toString("base64") : value)

/**
 * The conversions one result needs, decided once from its columns and applied to each row in
 * place: faster than a `typeCast` function, which `mysql2` calls with fresh closures for every
 * value. The driver already gives BIGINT and DECIMAL as text, DATE as text, DATETIME and
 * TIMESTAMP as UTC Dates, JSON parsed.
 */
export const converter = (fields: ReadonlyArray<Field>): ((row: Row) => Row) => {
  const steps: Array<(row: Row) => void> = []
  for (const field of fields) {
    const name = field.name
    switch (field.columnType) {
      case TINY:
        if (field.columnLength === 1)
          steps.push((row) => {
            const v = row[name]
            if (v !== null) row[name] = v !== 0
          })
        break
      case LONGLONG:
        steps.push((row) => {
          const v = row[name]
          if (v !== null) row[name] = BigInt(v as string)
        })
        break
      case DATETIME:
      case TIMESTAMP:
        // The driver reads these as UTC Dates (see `queryOptions`); the zero date comes as an invalid one.
        steps.push((row) => {
          const v = row[name] as Date | null
          if (v !== null && Number.isNaN(v.getTime())) row[name] = null
        })
        break
      case DATE:
        steps.push((row) => {
          if (row[name] === "0000-00-00") row[name] = null
        })
        break
      case BIT:
        steps.push((row) => {
          const v = row[name] as Buffer | null
          if (v !== null) row[name] = field.columnLength === 1 ? v[0] !== 0 : v.toString("base64")
        })
        break
      default:
        // BLOB, BINARY, VARBINARY, GEOMETRY: the driver gives a Buffer only for these (binary
        // character set); other columns are left alone, with no per-row check.
        if (
          field.characterSet !== undefined &&
          !(field.characterSet === BINARY_CHARSET && STRING_TYPES.has(field.columnType))
        )
          break
        steps.push((row) => {
          const v = row[name]
          if (v !== null && typeof v === "object" && Buffer.isBuffer(v)) row[name] = base64(v)
        })
    }
  }
  return (row) => {
    for (let i = 0; i < steps.length; i++) steps[i]!(row)
    return row
  }
}

const isoUtc = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?)Z$/
const bigInteger = /^-?[1-9]\d{15,19}$/

/**
 * A value from a stored position as a parameter. Timestamps were stored as ISO text in UTC and
 * go back as `YYYY-MM-DD HH:MM:SS.ffffff`; integers beyond 2^53 were stored as text and go
 * back as `bigint`, so MySQL does not compare them as doubles.
 */
export const fromPosition = (value: unknown): unknown => {
  if (typeof value !== "string") return value
  const time = isoUtc.exec(value)
  if (time) return `${time[1]} ${time[2]}`
  return bigInteger.test(value) ? BigInt(value) : value
}
