import {
  type InsertQueryBuilder,
  type InsertResult,
  type Kysely,
  type RawBuilder,
  sql,
  type Transaction,
} from "kysely"
import type { Json } from "../../Json.js"
import type { Database, Kind } from "./schema.js"

/**
 * What the store's writes share across dialects: PostgreSQL, PGlite and SQLite (`on conflict`)
 * against MySQL (`on duplicate key update`), statement sizes, and JSON kept as text on all of them.
 */

/** The database, or a transaction on it: every write helper takes either. */
export type Db = Kysely<Database> | Transaction<Database>

/**
 * On a key conflict, `columns` take the incoming row's values (`values(c)` on MySQL,
 * `excluded.c` on PostgreSQL, PGlite and SQLite), and `also` sets the rest.
 */
export const upsert = <T extends keyof Database>(
  kind: Kind,
  insert: InsertQueryBuilder<Database, T, InsertResult>,
  keys: ReadonlyArray<keyof Database[T] & string>,
  columns: ReadonlyArray<keyof Database[T] & string>,
  also: Readonly<Record<string, RawBuilder<unknown>>> = {},
) => {
  // The update object of typed column names, typed as each dialect's builder expects it.
  const set = <U>(incoming: (column: string) => RawBuilder<unknown>): U =>
    // `also` first: MySQL assigns left to right, so it must see the old row's columns.
    ({ ...also, ...Object.fromEntries(columns.map((c) => [c, incoming(c)])) }) as U
  return kind === "mysql"
    ? insert.onDuplicateKeyUpdate(set((c) => sql`values(${sql.ref(c)})`))
    : insert.onConflict((oc) => oc.columns([...keys]).doUpdateSet(set((c) => sql.ref(`excluded.${c}`))))
}

/** Splits `items` into statements of at most `size` rows (or keys). */
export const chunks = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** The last row for each key wins: one statement may not upsert the same row twice on PostgreSQL. */
export const lastByKey = <A>(items: ReadonlyArray<A>, key: (a: A) => string): ReadonlyArray<A> =>
  items.length < 2 ? items : [...new Map(items.map((a) => [key(a), a] as const)).values()]

/** A JSON text column (cursors, payloads, stats) read back. */
export const parseJson = (text: string): Json => JSON.parse(text) as Json
