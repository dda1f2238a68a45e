import { mkdir } from "node:fs/promises"
import * as SecretUrl from "@b24etl/core/SecretUrl"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { Effect, Redacted, type Scope } from "effect"
import { CompiledQuery, Kysely, MysqlDialect, PostgresDialect, sql } from "kysely"
import { createPool } from "mysql2"
import { pg } from "./internal/pg.js"
import * as PgliteDriver from "./internal/pgliteDriver.js"
import { LegacyDatabaseError } from "./LegacyDatabaseError.js"
import type { LegacyDatabase, LegacyDialect } from "./schema.js"
import * as Seed from "./seed.js"

/**
 * Opening the demo legacy database: a PostgreSQL or MySQL / MariaDB server from a URL, or the
 * embedded one (PGlite persisted in a directory, created and seeded on first use, served over a
 * local socket so the `pg`-based Postgres source reads it like any server).
 */

/** An open legacy database. */
export interface LegacyConnection {
  readonly db: Kysely<LegacyDatabase>
  readonly dialect: LegacyDialect
  /** The URL for messages, password replaced by `***`. */
  readonly location: string
}

export interface ConnectOptions {
  /** Connections in the pool. Default 4. */
  readonly poolSize?: number | undefined
}

/** The dialect a URL names: `postgres://`, `postgresql://`, `mysql://` or `mariadb://`. */
export const dialectOf = (url: string): LegacyDialect | undefined => {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1]?.toLowerCase()
  switch (scheme) {
    case "postgres":
    case "postgresql":
      return "postgres"
    case "mysql":
    case "mariadb":
      return "mysql"
    default:
      return undefined
  }
}

/** The URL with its password (and any `password=` parameter) replaced by `***`. */
export const redactUrl: (url: string) => string = SecretUrl.redact

/** A cause as text for a message, secrets replaced by `***`. */
const describe = (cause: unknown, secrets: ReadonlyArray<string>): string => {
  const text =
    cause instanceof AggregateError && cause.message === ""
      ? cause.errors.map((e) => (e instanceof Error ? e.message : String(e))).join("; ")
      : cause instanceof Error
        ? cause.message || ((cause as { code?: unknown }).code as string | undefined) || cause.name
        : String(cause)
  return SecretUrl.scrub(text, secrets)
}

// `date` as `YYYY-MM-DD` text (pg would make a local-midnight Date); everything else as pg does.
const pgTypes = {
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.DATE ? (value: string) => value : pg.types.getTypeParser(oid, format ?? "text"),
}

const makeKysely = (url: string, dialect: LegacyDialect, poolSize: number): Kysely<LegacyDatabase> => {
  if (dialect === "postgres") {
    const pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      types: pgTypes,
      options: "-c TimeZone=UTC",
    })
    // An idle connection that drops emits here; the next query reports it, so the process must not crash.
    pool.on("error", () => {})
    return new Kysely<LegacyDatabase>({ dialect: new PostgresDialect({ pool }) })
  }
  const pool = createPool({
    uri: url.replace(/^mariadb:/i, "mysql:"),
    connectionLimit: poolSize,
    charset: "UTF8MB4_UNICODE_CI",
    timezone: "Z",
    dateStrings: ["DATE"],
  })
  return new Kysely<LegacyDatabase>({
    dialect: new MysqlDialect({
      pool,
      onCreateConnection: (connection) =>
        connection.executeQuery(CompiledQuery.raw("SET time_zone = '+00:00'")).then(() => {}),
    }),
  })
}

/**
 * Connects to the legacy database a URL names and checks that it answers. Timestamps are read
 * as `Date` (UTC), `numeric` as exact text, `date` as `YYYY-MM-DD`. The pool closes with the
 * scope. Error messages show the URL without its password.
 */
export const connect = (
  url: string | Redacted.Redacted<string>,
  options: ConnectOptions = {},
): Effect.Effect<LegacyConnection, LegacyDatabaseError, Scope.Scope> =>
  Effect.gen(function* () {
    const raw = (Redacted.isRedacted(url) ? Redacted.value(url) : url).trim()
    const location = redactUrl(raw)
    const secrets = SecretUrl.secretsOf(raw)
    const operation = `connecting to the legacy database ${location}`
    const dialect = dialectOf(raw)
    if (dialect === undefined) {
      return yield* new LegacyDatabaseError({
        operation,
        message: `${location} is not a legacy database URL: use postgres://, postgresql://, mysql:// or mariadb://`,
      })
    }
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => makeKysely(raw, dialect, options.poolSize ?? 4),
        catch: (cause) =>
          new LegacyDatabaseError({ operation, message: `${operation}: ${describe(cause, secrets)}` }),
      }),
      (db) => Effect.promise(() => db.destroy().catch(() => undefined)),
    )
    yield* Effect.tryPromise({
      try: () => sql`SELECT 1`.execute(db),
      // The driver's error is not kept as `cause`: it may carry the connection settings.
      catch: (cause) =>
        new LegacyDatabaseError({
          operation,
          message: `cannot connect to ${location}: ${describe(cause, secrets)}`,
        }),
    })
    return { db, dialect, location }
  })

export interface EmbeddedOptions {
  /** Companies to seed on first use. Default 1,000. */
  readonly companies?: number | undefined
  /** The seed for the first use. Default 1. */
  readonly seed?: number | undefined
  /**
   * Client connections the socket server accepts at once. Default 4 (the Postgres source's
   * default pool). PGlite is one session: the server runs one protocol message at a time and keeps
   * a transaction's messages together; connections beyond this limit are refused.
   */
  readonly maxConnections?: number | undefined
}

/** The embedded legacy database, served on a local port. */
export interface Embedded {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`: no password, local only. */
  readonly url: string
  readonly port: number
  readonly directory: string
  /** True when this call created and seeded the database; false when it re-opened it. */
  readonly seededNow: boolean
  /** What the database was seeded with (now or on first use). */
  readonly seed: Seed.SeedMarker
  readonly maxConnections: number
}

const failure = (operation: string) => (cause: unknown) =>
  new LegacyDatabaseError({ operation, message: `${operation}: ${describe(cause, [])}`, cause })

/**
 * The zero-configuration legacy database: PGlite persisted in `directory` (e.g.
 * `.pipeline/legacy`), created and seeded on first use (marked by the `demo_seed` row, so later
 * opens see the same data and never seed again), served with `PGLiteSocketServer` on 127.0.0.1
 * and a free port. The server stops and PGlite closes when the scope closes.
 */
export const embedded = (
  directory: string,
  options: EmbeddedOptions = {},
): Effect.Effect<Embedded, LegacyDatabaseError, Scope.Scope> =>
  Effect.gen(function* () {
    const maxConnections = options.maxConnections ?? 4
    const pglite = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          await mkdir(directory, { recursive: true })
          const db = new PGlite(directory)
          await db.waitReady
          return db
        },
        catch: failure(`opening the embedded legacy database in ${directory}`),
      }),
      (db) => Effect.promise(() => db.close().catch(() => undefined)),
    )
    const { marker, seededNow } = yield* Effect.scoped(
      Effect.gen(function* () {
        const db = yield* Effect.acquireRelease(
          Effect.sync(
            () =>
              new Kysely<LegacyDatabase>({
                dialect: new PostgresDialect({ pool: PgliteDriver.pool(pglite) }),
              }),
          ),
          (db) => Effect.promise(() => db.destroy().catch(() => undefined)),
        )
        const existing = yield* Seed.readSeedMarker(db, "postgres")
        if (existing !== undefined) return { marker: existing, seededNow: false }
        // No marker: a new directory, or a first seed that never committed. Start clean.
        yield* Seed.seed(db, "postgres", { companies: options.companies, seed: options.seed, reset: true })
        const marker = yield* Seed.readSeedMarker(db, "postgres")
        if (marker === undefined) {
          return yield* new LegacyDatabaseError({
            operation: `seeding the embedded legacy database in ${directory}`,
            message: `seeding the embedded legacy database in ${directory}: the seed marker is missing after seeding`,
          })
        }
        return { marker, seededNow: true }
      }),
    )
    const server = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          // Port 0: the system picks a free port; the server reports it once listening.
          const server = new PGLiteSocketServer({ db: pglite, host: "127.0.0.1", port: 0, maxConnections })
          await server.start()
          return server
        },
        catch: failure(`serving the embedded legacy database in ${directory}`),
      }),
      (server) => Effect.promise(() => server.stop().catch(() => undefined)),
    )
    const port = Number(server.getServerConn().split(":").pop())
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      directory,
      seededNow,
      seed: marker,
      maxConnections,
    }
  })
