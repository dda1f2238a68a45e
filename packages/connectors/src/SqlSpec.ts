import type { RawBuilder } from "kysely"

/**
 * What a SQL source reads: a table or a query. Both `Postgres` and `Mysql` serve these specs,
 * built with their source's `table(...)` and `query(...)`.
 */
export type Spec = TableSpec | QuerySpec

/** The key of a stream: one column, or several for a compound key (compared in that order). */
export type Key = string | ReadonlyArray<string>

/** A scalar a `where` record may compare with. */
export type Scalar = string | number | bigint | boolean | Date

/**
 * A filter on a table. A record means equality on each column (`null` means `IS NULL`, an
 * array means `IN`); column names are validated like every other name. A `sql` template
 * (from `kysely`) or a string is trusted SQL from the pipeline's code, never from user input.
 */
export type Where =
  | Readonly<Record<string, Scalar | null | ReadonlyArray<Scalar>>>
  | RawBuilder<unknown>
  | string

/**
 * A cursor computed from each row: `{ as: "changed_at", sql: "GREATEST(updated_at, created_at)" }`.
 * The value joins the record under `as`, and pages are ordered and resumed on it exactly as on a
 * column, because the expression is computed in a derived table and the paging query compares
 * its result. Over a table, `sql` sees the table's columns (qualify them with the table's name,
 * `contacts.id`, in correlated subqueries); over a query, the query's result columns. Like `where`,
 * `sql` is trusted code from the pipeline.
 *
 * The use: a record whose change shows in another table (an e-mail address in a side table).
 * Take the greatest of the timestamps, so a change to either makes the row come again; mind
 * NULLs: MySQL's `GREATEST` is NULL when any argument is, so wrap the side tables' part in
 * `COALESCE(..., own_timestamp)`. The expression is computed for every row a page considers:
 * fine for thousands of rows, slow for millions (there, a trigger that touches the parent's
 * timestamp lets the cursor be a plain, indexed column).
 */
export interface CursorExpression {
  /** The name the value takes in each record (a plain identifier). */
  readonly as: string
  readonly sql: string | RawBuilder<unknown>
}

/** Options shared by tables and queries. */
export interface StreamOptions {
  /** The column or columns that identify a row; they must be unique and not NULL. */
  readonly key: Key
  /**
   * A column that grows when a row changes (`updated_at`, a version number), or an expression
   * computed from each row (see `CursorExpression`): makes the stream
   * incremental. Rows are read in (cursor, key) order, and each record carries a position
   * `{ cursor, key }` to resume strictly after it. Rows whose cursor is NULL come first (by
   * key); an incremental run whose checkpoint is past them does not see rows inserted later with
   * a NULL cursor, so give the column a NOT NULL default. Pages are `ORDER BY cursor, key`: an
   * index on (cursor, key) keeps each page an index range scan.
   */
  readonly cursor?: string | CursorExpression | undefined
  /** Records per chunk handed downstream. Default: the source's `chunkSize`, itself 1,000. */
  readonly chunkSize?: number | undefined
  /**
   * Rows per query (a keyset page), streamed in chunks as they arrive: the most rows held at
   * once. Default: the source's `pageSize`, itself 20,000; never below `chunkSize`.
   */
  readonly pageSize?: number | undefined
}

/** Options of a table stream. */
export interface TableOptions extends StreamOptions {
  /** The columns to read; all of them by default. The key and cursor are always read. */
  readonly columns?: ReadonlyArray<string> | undefined
  readonly where?: Where | undefined
}

/** Reads a table (or a view), `name` or `schema.name`. */
export interface TableSpec extends TableOptions {
  readonly _tag: "Table"
  readonly table: string
}

/**
 * Reads the result of a query, paged by wrapping it: `SELECT * FROM (<sql>) q WHERE <after>
 * ORDER BY <cursor, key> LIMIT n`. The key and cursor name columns of the query's result.
 */
export interface QuerySpec extends StreamOptions {
  readonly _tag: "Query"
  readonly sql: string | RawBuilder<unknown>
}

/** Says what a spec reads: `table companies`, `query on companies`. */
export const describe = (spec: Spec): string =>
  spec._tag === "Table" ? `table ${spec.table}` : `query ${preview(spec.sql)}`

const preview = (query: string | RawBuilder<unknown>): string => {
  const text = typeof query === "string" ? query : "(sql template)"
  const oneLine = text.replace(/\s+/g, " ").trim()
  return oneLine.length > 60 ? `${oneLine.slice(0, 57)}...` : oneLine
}
