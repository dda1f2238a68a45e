/**
 * `pg` for the sources benchmark, typed structurally: the bench package has no `@types/pg`, and
 * (like Kysely) we only need the few members used here.
 */
import { createRequire } from "node:module"
import type { PostgresPool } from "kysely"

export interface PgQuery {
  on(event: "row", listener: (row: Record<string, unknown>) => void): PgQuery
  on(event: "end", listener: () => void): PgQuery
  on(event: "error", listener: (error: Error) => void): PgQuery
}

export interface PgClient {
  connect(): Promise<void>
  query(query: PgQuery): PgQuery
  end(): Promise<void>
}

export interface Pg {
  readonly Pool: new (config: { connectionString: string; max?: number }) => PostgresPool
  readonly Client: new (config: { connectionString: string }) => PgClient
  readonly Query: new (text: string) => PgQuery
}

export const pg = createRequire(import.meta.url)("pg") as Pg
