import { type Expression, type RawBuilder, sql } from "kysely"
import type { Kind } from "./schema.js"

/**
 * Timestamps cross the driver as UTC text on every dialect. Drivers convert `Date` values with the
 * process's or the connection's time zone (`pg` for `timestamp`, `mysql2` by its `timezone`
 * option), which the caller's pool decides; text makes the stored value UTC regardless.
 */
export const toSql = (millis: number): string =>
  new Date(millis).toISOString().replace("T", " ").replace("Z", "")

/** A timestamp column read as UTC ISO text, formatted by the database so `DateStyle` cannot change it. */
export const read = (kind: Kind, column: Expression<unknown>): RawBuilder<string> => {
  switch (kind) {
    case "mysql":
      return sql<string>`date_format(${column}, '%Y-%m-%dT%H:%i:%s.%f')`
    case "sqlite":
      // SQLite keeps the text as written; `%f` is seconds with milliseconds.
      return sql<string>`strftime('%Y-%m-%dT%H:%M:%f', ${column})`
    default:
      return sql<string>`to_char(${column}, 'YYYY-MM-DD"T"HH24:MI:SS.MS')`
  }
}

export const fromSql = (text: string): Date => new Date(`${text}Z`)

export const fromSqlOrNull = (text: string | null): Date | null => (text === null ? null : fromSql(text))
