import { Effect, type Scope } from "effect"
import { CompiledQuery, Kysely, MysqlDialect, PostgresDialect, sql } from "kysely"
import { createPool } from "mysql2"
import pg from "pg"

/**
 * Real databases for tests. Each test file owns its own database (created here, dropped after)
 * so files running in parallel, ours or other packages', never collide.
 */

// biome-ignore lint/suspicious/noExplicitAny: raw SQL only
export type Admin = Kysely<any>

export const pgUrl = (database: string) => `postgres://postgres@127.0.0.1:5432/${database}`
export const mysqlUrl = (database: string) => `mysql://root@127.0.0.1:3306/${database}`

const destroy = (db: Admin) => Effect.promise(() => db.destroy())

/** A pool whose sessions may be ended by the server (other suites terminate backends) without crashing the run. */
const pgPool = (config: pg.PoolConfig) => {
  const pool = new pg.Pool(config)
  pool.on("error", () => {})
  pool.on("connect", (client) => client.on("error", () => {}))
  return pool
}

/** A fresh PostgreSQL database, and a writable connection to it; dropped when the scope closes. */
export const postgres = (database: string): Effect.Effect<Admin, never, Scope.Scope> =>
  Effect.gen(function* () {
    const server = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: pgPool({ connectionString: pgUrl("postgres"), max: 1 }) }),
    })
    const recreate = Effect.promise(async () => {
      await sql`DROP DATABASE IF EXISTS ${sql.id(database)} WITH (FORCE)`.execute(server)
    })
    yield* Effect.acquireRelease(
      recreate.pipe(
        Effect.zipRight(Effect.promise(() => sql`CREATE DATABASE ${sql.id(database)}`.execute(server))),
      ),
      () => recreate.pipe(Effect.zipRight(destroy(server))),
    )
    return yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new Kysely<unknown>({
            dialect: new PostgresDialect({
              pool: pgPool({
                connectionString: pgUrl(database),
                max: 1,
                application_name: "b24etl-test-admin",
              }),
            }),
          }) as Admin,
      ),
      destroy,
    )
  })

/** A fresh MariaDB database, and a writable single connection to it; dropped when the scope closes. */
export const mysql = (database: string): Effect.Effect<Admin, never, Scope.Scope> =>
  Effect.gen(function* () {
    const server = new Kysely<unknown>({
      dialect: new MysqlDialect({ pool: createPool({ uri: mysqlUrl(""), connectionLimit: 1 }) }),
    })
    const drop = Effect.promise(() => sql`DROP DATABASE IF EXISTS ${sql.id(database)}`.execute(server))
    yield* Effect.acquireRelease(
      drop.pipe(
        Effect.zipRight(
          Effect.promise(() =>
            sql`CREATE DATABASE ${sql.id(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`.execute(
              server,
            ),
          ),
        ),
      ),
      () => drop.pipe(Effect.zipRight(destroy(server))),
    )
    return yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new Kysely<unknown>({
            dialect: new MysqlDialect({
              pool: createPool({ uri: mysqlUrl(database), connectionLimit: 1, timezone: "Z" }),
              onCreateConnection: async (c) => {
                await c.executeQuery(CompiledQuery.raw("SET time_zone = '+00:00'"))
              },
            }),
          }) as Admin,
      ),
      destroy,
    )
  })

/** Runs statements one by one. */
export const exec = (db: Admin, ...statements: ReadonlyArray<ReturnType<typeof sql>>) =>
  Effect.promise(async () => {
    for (const statement of statements) await statement.execute(db)
  })

/** Rows of a query, for assertions. */
export const rows = <A = Record<string, unknown>>(db: Admin, query: ReturnType<typeof sql>) =>
  Effect.promise(async () => (await query.execute(db)).rows as Array<A>)
