import type { TypeCast } from "mysql2"

/**
 * How MySQL / MariaDB values become JavaScript, matching the PostgreSQL source wherever the
 * types match. The session runs in UTC (`time_zone = '+00:00'`).
 *
 * - `BIGINT` -> `bigint`; `DECIMAL` -> `string` (exact decimal text)
 * - `TINYINT(1)` and `BIT(1)` -> `boolean`
 * - `DATETIME`, `TIMESTAMP` -> `Date` (DATETIME's wall time read as UTC); the zero date -> `null`
 * - `DATE` -> `"YYYY-MM-DD"` text; `TIME` -> text
 * - `JSON` (and MariaDB's JSON alias, via its extended metadata) -> parsed
 * - `BLOB`, `BINARY`, `VARBINARY`, other `BIT` -> base64 text (file fields)
 */
export const typeCast: TypeCast = (field, next) => {
  switch (field.type) {
    case "TINY": {
      const value = next()
      return field.length === 1 && value !== null ? value !== 0 : value
    }
    case "LONGLONG": {
      const value = next()
      return value === null ? null : BigInt(value as string)
    }
    case "DATETIME":
    case "DATETIME2":
    case "TIMESTAMP":
    case "TIMESTAMP2":
      return dateTime(next() as string | null)
    case "BIT": {
      const value = field.buffer()
      if (value === null) return null
      return field.length === 1 ? value[0] !== 0 : value.toString("base64")
    }
    case "TINY_BLOB":
    case "MEDIUM_BLOB":
    case "LONG_BLOB":
    case "BLOB":
    case "STRING":
    case "VAR_STRING":
    case "GEOMETRY": {
      const value = next()
      return Buffer.isBuffer(value) ? value.toString("base64") : value
    }
    default:
      return next()
  }
}

const dateTime = (value: string | null): Date | null => {
  if (value === null || value.startsWith("0000-00-00")) return null
  const date = new Date(`${value.replace(" ", "T")}Z`)
  return Number.isNaN(date.getTime()) ? null : date
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
