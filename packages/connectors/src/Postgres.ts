import type * as Source from "@b24etl/core/Source"
import { Config, type ConfigError, Context, Effect, Layer, type Redacted, type Scope } from "effect"
import { Kysely, PostgresDialect, sql } from "kysely"
import pg from "pg"
import * as PgRows from "./internal/pgRows.js"
import * as PgTypes from "./internal/pgTypes.js"
import * as SqlDriver from "./internal/sqlDriver.js"
import type * as SqlSource from "./internal/sqlSource.js"
import type * as SqlSpec from "./SqlSpec.js"

/**
 * PostgreSQL as a source, through Kysely and `pg`. Sessions are read-only and in UTC; tables
 * and queries are read in keyset pages (never one big result in memory); values are mapped as
 * `internal/pgTypes.ts` documents: int8 -> bigint, numeric -> exact text, timestamps -> Date
 * (`timestamp` without time zone read as UTC), date -> text, json parsed, bytea -> base64.
 */

/** How to reach the database. */
export interface PostgresConfig {
  /** `postgres://user:password@host:5432/db`; shown in messages with the password as `***`. */
  readonly url: string | Redacted.Redacted<string>
  /** The source's name in messages (and the default `originatorId`). Default `postgres`. */
  readonly name?: string | undefined
  /** Records per chunk handed downstream. Default 1,000. */
  readonly chunkSize?: number | undefined
  /** Rows per keyset query, streamed as they arrive: the most rows held at once. Default 20,000. */
  readonly pageSize?: number | undefined
  /** Connections in the pool. Default 4. */
  readonly poolSize?: number | undefined
}

/** A connected database: serves table and query specs; `db` runs other read-only SQL. */
export interface PostgresClient extends Source.Connection<SqlSpec.Spec> {
  readonly name: string
  // biome-ignore lint/suspicious/noExplicitAny: raw SQL only, no typed tables
  readonly db: Kysely<any>
}

/** The connected database as a service. */
export class Postgres extends Context.Tag("@b24etl/connectors/Postgres")<Postgres, PostgresClient>() {}

const dialect: SqlSource.Dialect = {
  kind: "postgres",
  asText: (column) => sql`(${column})::text`,
  // `pg` would send a Date in the process's local zone; ISO text in UTC is read right by both timestamp types.
  param: (value) => (value instanceof Date ? value.toISOString() : value),
  fromPosition: (value) => value,
}

/** A `pg` client whose session must be open within `SqlDriver.connectTimeoutMs`. */
class TimedClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super({ ...config, connectionTimeoutMillis: SqlDriver.connectTimeoutMs })
  }
}

/**
 * Opens a pool and checks that the database answers. The pool closes when the scope does,
 * interrupted or not.
 */
export const make = (
  config: PostgresConfig,
): Effect.Effect<PostgresClient, Source.SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const name = config.name ?? "postgres"
    const url = SqlDriver.urlText(config.url)
    const { db, pool } = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new pg.Pool({
          // The connect timeout on the sessions only: as a pool option it would also fail a query
          // waiting more than that for a free session while long reads hold them all.
          Client: TimedClient,
          connectionString: url,
          max: config.poolSize ?? 4,
          types: PgTypes.types,
          application_name: `b24etl:${name}`.slice(0, 63),
          options: "-c default_transaction_read_only=on -c TimeZone=UTC -c DateStyle=ISO",
        })
        // A session the server ends (idle, or while the pool closes) emits "error"; queries in flight get
        // the error through their own promise, so these listeners only keep the process from crashing.
        pool.on("error", () => {})
        pool.on("connect", (client) => client.on("error", () => {}))
        return { pool, db: new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) }) }
      }),
      ({ db }) => Effect.promise(() => db.destroy().catch(() => undefined)),
    )
    return yield* SqlDriver.serve({
      name,
      url,
      dialect,
      db,
      open: PgRows.open(pool),
      chunkSize: config.chunkSize,
      pageSize: config.pageSize,
    })
  })

/** The connected database as a layer. */
export const layer = (config: PostgresConfig): Layer.Layer<Postgres, Source.SourceError> =>
  Layer.scoped(Postgres, make(config))

/** The connected database as a layer, its settings read from `Config`. */
export const layerConfig = (
  config: Config.Config.Wrap<PostgresConfig>,
): Layer.Layer<Postgres, Source.SourceError | ConfigError.ConfigError> =>
  Layer.scoped(Postgres, Effect.flatMap(Config.unwrap(config), make))

/** A source's settings: like `PostgresConfig`, but the URL may be read from `Config` at run time. */
export interface PostgresSourceConfig extends Omit<PostgresConfig, "url"> {
  readonly url: SqlDriver.UrlInput
}

/** A PostgreSQL source with `table` and `query` builders. */
export type PostgresSource = SqlDriver.SqlSource

/**
 * A PostgreSQL source, connected when a run starts:
 * `const legacy = Postgres.source({ url: Config.redacted("LEGACY_DATABASE_URL") })`.
 */
export const source = (config: PostgresSourceConfig): PostgresSource => {
  const name = config.name ?? "postgres"
  return SqlDriver.sqlSource(
    "postgres",
    name,
    Effect.flatMap(SqlDriver.resolveUrl(name, config.url), (url) => make({ ...config, url })),
  )
}
