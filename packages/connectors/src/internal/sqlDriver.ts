import * as SecretUrl from "@b24etl/core/SecretUrl"
import * as Source from "@b24etl/core/Source"
import { Duration, Effect, type Scope } from "effect"
import { type Kysely, type RawBuilder, sql } from "kysely"
import * as SqlSpec from "../SqlSpec.js"
import * as SqlPages from "./sqlSource.js"

export { resolveUrl, type UrlInput, urlText } from "./sqlUrl.js"

/** A SQL source with spec builders bound to it. */
export interface SqlSource extends Source.Source<SqlSpec.Spec> {
  /** Reads a table: `legacy.table("companies", { key: "id", cursor: "updated_at" })`. */
  readonly table: <Row = Readonly<Record<string, unknown>>>(
    table: string,
    options: SqlSpec.TableOptions,
  ) => Source.SourceStream<Row>
  /** Reads a query's result, paged by its key (and cursor). */
  readonly query: <Row = Readonly<Record<string, unknown>>>(
    sql: string | RawBuilder<unknown>,
    options: SqlSpec.StreamOptions,
  ) => Source.SourceStream<Row>
}

export const sqlSource = (
  kind: string,
  name: string,
  connect: Effect.Effect<Source.Connection<SqlSpec.Spec>, Source.SourceError, Scope.Scope>,
): SqlSource => {
  const source: Source.Source<SqlSpec.Spec> = {
    version: Source.version,
    kind,
    name,
    describe: SqlSpec.describe,
    connect,
  }
  return {
    ...source,
    table: (table, options) => Source.stream(source, { _tag: "Table", table, ...options }),
    query: (query, options) => Source.stream(source, { _tag: "Query", sql: query, ...options }),
  }
}

/**
 * How long opening a database session may take before it fails (pg `connectionTimeoutMillis`,
 * mysql2 `connectTimeout`): a host that drops packets would otherwise hold a run for the
 * operating system's TCP timeout, about two minutes.
 */
export const connectTimeoutMs = 5_000

/** How long the pre-flight `SELECT 1` may take, session opening included. */
const pingTimeout = Duration.seconds(10)

/** A driver failure as text, with the URL's secrets removed wherever the driver echoed them. */
export const describeCause = (cause: unknown, secrets: ReadonlyArray<string>): string =>
  SecretUrl.scrub(cause instanceof Error ? cause.message || cause.name : String(cause), secrets)

/** The failure to reach a database: named by its URL with the secrets hidden, scrubbed of them. */
export const cannotConnect = (name: string, url: string, cause: unknown): Source.SourceError => {
  const secrets = SecretUrl.secretsOf(url)
  return new Source.SourceError({
    source: name,
    message: `${name}: cannot connect to ${SecretUrl.show(url)}: ${describeCause(cause, secrets)}`,
    cause: SecretUrl.scrub(String(cause), secrets),
  })
}

/**
 * Checks that a database just opened answers, then serves SQL specs from it. Driver messages
 * sometimes echo the URL or its password: errors are scrubbed of both.
 */
export const serve = (options: {
  readonly name: string
  readonly url: string
  readonly dialect: SqlPages.Dialect
  // biome-ignore lint/suspicious/noExplicitAny: raw SQL only, no typed tables
  readonly db: Kysely<any>
  readonly open: SqlPages.Client["open"]
  readonly chunkSize?: number | undefined
  readonly pageSize?: number | undefined
}) =>
  Effect.gen(function* () {
    const { name, url, db } = options
    // The pre-flight query: the database answers now, or the run stops within seconds.
    const ping = Effect.tryPromise({
      try: () => sql`SELECT 1`.execute(db),
      catch: (cause) => cannotConnect(name, url, cause),
    }).pipe(
      Effect.timeoutFail({
        duration: pingTimeout,
        onTimeout: () =>
          cannotConnect(name, url, `no answer to SELECT 1 within ${Duration.format(pingTimeout)}`),
      }),
      Effect.asVoid,
    )
    yield* ping
    const secrets = SecretUrl.secretsOf(url)
    const client: SqlPages.Client = {
      name,
      dialect: options.dialect,
      db,
      open: options.open,
      chunkSize: options.chunkSize ?? 1000,
      pageSize: options.pageSize ?? 20_000,
      scrub: (text) => SecretUrl.scrub(text, secrets),
    }
    // What the pipeline's state is bound to: host, port and database, never the user or password.
    return { name, db, location: SecretUrl.location(url), ping, ...SqlPages.connection(client) }
  })
