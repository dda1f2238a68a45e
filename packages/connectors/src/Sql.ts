import * as SecretUrl from "@b24etl/core/SecretUrl"
import * as Source from "@b24etl/core/Source"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { RawBuilder } from "kysely"
import * as SqlUrl from "./internal/sqlUrl.js"
import * as SqlSpec from "./SqlSpec.js"

/**
 * A SQL source whose engine follows its URL: `postgres://` / `postgresql://` read through
 * `Postgres`, `mysql://` / `mariadb://` through `Mysql`. One pipeline then reads either kind of
 * legacy database, chosen by configuration (`LEGACY_DATABASE_URL`).
 *
 * The URL may also come from an effect run in the run's scope, e.g. one that starts an embedded
 * database and answers its address.
 */

export type Engine = "postgres" | "mysql"

/** A query written once per engine, where the SQL differs (aggregates, functions). */
export interface PerEngine {
  readonly postgres: string | RawBuilder<unknown>
  readonly mysql: string | RawBuilder<unknown>
}

/**
 * A URL with where it is for the pipeline's binding, when its host and port say nothing lasting
 * (an embedded database served on a free port each run): `{ url, location: "demo .pipeline/legacy" }`.
 */
export interface Located {
  readonly url: string | Redacted.Redacted<string>
  readonly location: string
}

export interface SqlSourceConfig {
  readonly url:
    | SqlUrl.UrlInput
    | Effect.Effect<string | Redacted.Redacted<string> | Located, Source.SourceError, Scope.Scope>
  /** The source's name in messages and the default `originatorId`. Default `sql`. */
  readonly name?: string | undefined
  readonly chunkSize?: number | undefined
  readonly poolSize?: number | undefined
}

/** Spec as stored in a pipeline: a query may hold one SQL text per engine. */
export type Spec =
  | SqlSpec.TableSpec
  | (Omit<SqlSpec.QuerySpec, "sql"> & { readonly sql: SqlSpec.QuerySpec["sql"] | PerEngine })

export interface SqlSource extends Source.Source<Spec> {
  readonly table: <Row = Readonly<Record<string, unknown>>>(
    table: string,
    options: SqlSpec.TableOptions,
  ) => Source.SourceStream<Row>
  readonly query: <Row = Readonly<Record<string, unknown>>>(
    sql: string | RawBuilder<unknown> | PerEngine,
    options: SqlSpec.StreamOptions,
  ) => Source.SourceStream<Row>
}

/** The engine a URL names, or undefined. */
export const engineOf = (url: string): Engine | undefined => {
  const scheme = url.slice(0, url.indexOf(":")).toLowerCase()
  return scheme === "postgres" || scheme === "postgresql"
    ? "postgres"
    : scheme === "mysql" || scheme === "mariadb"
      ? "mysql"
      : undefined
}

const isPerEngine = (sql: unknown): sql is PerEngine =>
  typeof sql === "object" && sql !== null && "postgres" in sql && "mysql" in sql

const forEngine = (spec: Spec, engine: Engine): SqlSpec.Spec =>
  spec._tag === "Query" && isPerEngine(spec.sql) ? { ...spec, sql: spec.sql[engine] } : (spec as SqlSpec.Spec)

export const source = (config: SqlSourceConfig): SqlSource => {
  const name = config.name ?? "sql"
  // A `Config` is an effect too: it goes through `resolveUrl`, which names the source when unset.
  const url =
    Effect.isEffect(config.url) && !Config.isConfig(config.url)
      ? (config.url as Effect.Effect<
          string | Redacted.Redacted<string> | Located,
          Source.SourceError,
          Scope.Scope
        >)
      : SqlUrl.resolveUrl(name, config.url as SqlUrl.UrlInput)
  const connect = Effect.gen(function* () {
    const answer = yield* url
    const located = typeof answer === "object" && "location" in answer ? answer : undefined
    const resolved = located === undefined ? (answer as string | Redacted.Redacted<string>) : located.url
    const text = SqlUrl.urlText(resolved)
    const engine = engineOf(text)
    if (engine === undefined) {
      return yield* Effect.fail(
        new Source.SourceError({
          source: name,
          message: `${SecretUrl.show(SqlUrl.urlText(resolved))} is not a database URL: use postgres://… or mysql://…`,
        }),
      )
    }
    const options = { url: resolved, name, chunkSize: config.chunkSize, poolSize: config.poolSize }
    // The engine's module (kysely and its driver) loads when a run connects, not when a pipeline
    // file declares the source: `list` and `--help` never load a driver.
    const connection =
      engine === "postgres"
        ? yield* Effect.flatMap(
            Effect.promise(() => import("./Postgres.js")),
            (Postgres) => Postgres.make(options),
          )
        : yield* Effect.flatMap(
            Effect.promise(() => import("./Mysql.js")),
            (Mysql) => Mysql.make(options),
          )
    const adapted: Source.Connection<Spec> = {
      location: located?.location ?? connection.location,
      ping: connection.ping,
      check: (spec) => connection.check(forEngine(spec, engine)),
      read: (spec, request) => connection.read(forEngine(spec, engine), request),
      count: connection.count
        ? (spec, request) => connection.count!(forEngine(spec, engine), request)
        : undefined,
    }
    return adapted
  })
  const base: Source.Source<Spec> = {
    version: Source.version,
    kind: "sql",
    name,
    describe: (spec) =>
      spec._tag === "Query" && isPerEngine(spec.sql)
        ? "query (per engine)"
        : SqlSpec.describe(spec as SqlSpec.Spec),
    connect,
  }
  return {
    ...base,
    table: (table, options) => Source.stream(base, { _tag: "Table", table, ...options }),
    query: (sql, options) => Source.stream(base, { _tag: "Query", sql, ...options }),
  }
}
