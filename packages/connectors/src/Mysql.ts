import type * as Source from "@b24etl/core/Source"
import { Config, type ConfigError, Context, Effect, Layer, type Redacted, type Scope } from "effect"
import { Kysely, MysqlDialect, sql } from "kysely"
import { createPool } from "mysql2"
import * as MysqlRows from "./internal/mysqlRows.js"
import * as MysqlTypes from "./internal/mysqlTypes.js"
import * as SqlDriver from "./internal/sqlDriver.js"
import type * as SqlSource from "./internal/sqlSource.js"
import type * as SqlSpec from "./SqlSpec.js"

/**
 * MySQL and MariaDB as a source, through Kysely and `mysql2`. Sessions are read-only and in
 * UTC; tables and queries are read in keyset pages (never one big result in memory); values
 * are mapped as `internal/mysqlTypes.ts` documents: BIGINT -> bigint, DECIMAL -> exact text,
 * DATETIME/TIMESTAMP -> Date (UTC), DATE -> text, TINYINT(1) -> boolean, JSON parsed,
 * BLOB/BINARY -> base64.
 */

/** How to reach the database. */
export interface MysqlConfig {
  /** `mysql://user:password@host:3306/db`; shown in messages with the password as `***`. */
  readonly url: string | Redacted.Redacted<string>
  /** The source's name in messages (and the default `originatorId`). Default `mysql`. */
  readonly name?: string | undefined
  /** Records per chunk handed downstream. Default 1,000. */
  readonly chunkSize?: number | undefined
  /** Rows per keyset query, streamed as they arrive: the most rows held at once. Default 20,000. */
  readonly pageSize?: number | undefined
  /** Connections in the pool. Default 4. */
  readonly poolSize?: number | undefined
}

/**
 * A connected database: serves table and query specs; `db` runs other read-only SQL and returns
 * `mysql2`'s own values (BIGINT, DECIMAL and dates as text); the mapping above is the specs'.
 */
export interface MysqlClient extends Source.Connection<SqlSpec.Spec> {
  readonly name: string
  // biome-ignore lint/suspicious/noExplicitAny: raw SQL only, no typed tables
  readonly db: Kysely<any>
}

/** The connected database as a service. */
export class Mysql extends Context.Tag("@b24etl/connectors/Mysql")<Mysql, MysqlClient>() {}

const dialect: SqlSource.Dialect = {
  kind: "mysql",
  asText: (column) => sql`CAST(${column} AS CHAR)`,
  param: (value) => value,
  fromPosition: MysqlTypes.fromPosition,
}

/**
 * Opens a pool and checks that the database answers. The pool closes when the scope does,
 * interrupted or not.
 */
export const make = (config: MysqlConfig): Effect.Effect<MysqlClient, Source.SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const name = config.name ?? "mysql"
    const url = SqlDriver.urlText(config.url)
    const { db, pool } = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const pool = createPool({
            uri: url,
            connectionLimit: config.poolSize ?? 4,
            connectTimeout: SqlDriver.connectTimeoutMs,
            charset: "UTF8MB4_UNICODE_CI",
            supportBigNumbers: true,
            bigNumberStrings: true,
            dateStrings: true,
            timezone: "Z",
          })
          pool.on("connection", (connection) => {
            // A connection the server drops emits "error"; queries in flight get it through their own callbacks.
            connection.on("error", () => {})
            // Queued before anything else on this connection, whoever (Kysely or the page reader) takes it first.
            // A session that could not be made read-only and UTC is never used: the next query on it fails.
            const setup = (error: unknown) => {
              if (error) connection.destroy()
            }
            connection.query("SET SESSION TRANSACTION READ ONLY", setup)
            connection.query("SET time_zone = '+00:00'", setup)
          })
          return { pool, db: new Kysely<Record<string, never>>({ dialect: new MysqlDialect({ pool }) }) }
        },
        catch: (cause) => SqlDriver.cannotConnect(name, url, cause),
      }),
      ({ db }) => Effect.promise(() => db.destroy().catch(() => undefined)),
    )
    return yield* SqlDriver.serve({
      name,
      url,
      dialect,
      db,
      open: MysqlRows.open(pool),
      chunkSize: config.chunkSize,
      pageSize: config.pageSize,
    })
  })

/** The connected database as a layer. */
export const layer = (config: MysqlConfig): Layer.Layer<Mysql, Source.SourceError> =>
  Layer.scoped(Mysql, make(config))

/** The connected database as a layer, its settings read from `Config`. */
export const layerConfig = (
  config: Config.Config.Wrap<MysqlConfig>,
): Layer.Layer<Mysql, Source.SourceError | ConfigError.ConfigError> =>
  Layer.scoped(Mysql, Effect.flatMap(Config.unwrap(config), make))

/** A source's settings: like `MysqlConfig`, but the URL may be read from `Config` at run time. */
export interface MysqlSourceConfig extends Omit<MysqlConfig, "url"> {
  readonly url: SqlDriver.UrlInput
}

/** A MySQL / MariaDB source with `table` and `query` builders. */
export type MysqlSource = SqlDriver.SqlSource

/**
 * A MySQL / MariaDB source, connected when a run starts:
 * `const legacy = Mysql.source({ url: Config.redacted("LEGACY_DATABASE_URL") })`.
 */
export const source = (config: MysqlSourceConfig): MysqlSource => {
  const name = config.name ?? "mysql"
  return SqlDriver.sqlSource(
    "mysql",
    name,
    Effect.flatMap(SqlDriver.resolveUrl(name, config.url), (url) => make({ ...config, url })),
  )
}
