import { mkdir } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { PGlite } from "@electric-sql/pglite"
import { Clock, type Config, type ConfigError, Effect, Layer, Redacted, type Scope } from "effect"
import {
  type Dialect,
  Kysely,
  MysqlDialect,
  type MysqlPool,
  PostgresDialect,
  type PostgresPool,
} from "kysely"
import { PGliteDialect } from "kysely-pglite-dialect"
import * as DirectoryLock from "./internal/state/directoryLock.js"
import * as Migrations from "./internal/state/migrations.js"
import * as PgliteTemplate from "./internal/state/pgliteTemplate.js"
import type { Database, Kind } from "./internal/state/schema.js"
import * as Store from "./internal/state/store.js"
import * as SecretUrl from "./SecretUrl.js"
import { StateStore, StateStoreError } from "./StateStore.js"

/**
 * The state store on SQL through Kysely: PostgreSQL, MySQL/MariaDB, or PGlite (embedded
 * PostgreSQL in a directory, the default, so a fresh clone needs no server). Migrations run when
 * the store opens; the tables are plain SQL a user can query (`id_map`, `checkpoints`,
 * `dead_letters`, `runs`, `locks`, `credentials`, `schema_migrations`).
 *
 * Core never imports `pg` or `mysql2`: for a server database the caller passes the pool, or a
 * `Drivers` factory that makes one from a URL.
 */

export { maxSourceKeyLength } from "./internal/state/keys.js"
export type { LockHolder } from "./internal/state/locks.js"
export type { SqlStateStore } from "./internal/state/store.js"

export type DialectKind = Kind

export interface Options {
  /** A Kysely dialect over the caller's pool (`PostgresDialect`, `MysqlDialect`, `PGliteDialect`). */
  readonly dialect: Dialect
  readonly kind: DialectKind
  /** Where the state is, for messages: a directory, or a URL whose password is hidden. */
  readonly location: string
  /** Texts never to show in error messages (the database password). */
  readonly secrets?: ReadonlyArray<string> | undefined
  /** Called with the SQL of every query executed: for tests and debugging. */
  readonly onQuery?: ((sql: string) => void) | undefined
}

/** Makes a database pool from a URL; the CLI passes the real drivers (`pg`, `mysql2`). */
export interface Drivers {
  /** Called with a `postgres://` or `postgresql://` URL; e.g. `(url) => new pg.Pool({ connectionString: url })`. */
  readonly postgres?: ((url: string) => PostgresPool) | undefined
  /** Called with a `mysql://` URL (`mariadb://` is rewritten); e.g. `(url) => mysql2.createPool(url)`. */
  readonly mysql?: ((url: string) => MysqlPool) | undefined
}

const scrubber =
  (secrets: ReadonlyArray<string>) =>
  (text: string): string =>
    SecretUrl.scrub(text, secrets)

/**
 * Opens the state store over a dialect and brings its schema up to date. The Kysely instance (and
 * with it the caller's pool) is destroyed when the scope closes.
 */
export const make = (options: Options): Effect.Effect<Store.SqlStateStore, StateStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const scrub = scrubber(options.secrets ?? [])
    const onQuery = options.onQuery
    const db = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new Kysely<Database>({
            dialect: options.dialect,
            ...(onQuery === undefined
              ? {}
              : { log: (event: { readonly query: { readonly sql: string } }) => onQuery(event.query.sql) }),
          }),
      ),
      (db) => Effect.promise(() => db.destroy().catch(() => undefined)),
    )
    const now = yield* Clock.currentTimeMillis
    const applied = yield* Effect.tryPromise({
      try: () => Migrations.migrate(db, options.kind, now),
      catch: (cause) =>
        new StateStoreError({
          operation: "migrating the state store",
          message: scrub(cause instanceof Error ? cause.message : String(cause)),
          cause,
        }),
    })
    if (applied.length > 0) {
      yield* Effect.logDebug(
        `state store ${options.location}: applied ${applied.map((m) => `${m.version} (${m.name})`).join(", ")}`,
      )
    }
    return Store.make({
      db,
      kind: options.kind,
      location: options.location,
      scrub,
      migrated: applied.map((m) => m.version),
    })
  })

/** The state store as a layer over a dialect. */
export const layer = (options: Options): Layer.Layer<StateStore, StateStoreError> =>
  Layer.scoped(StateStore, make(options))

/**
 * Opens PGlite persisted in `directory` (created if missing). One process at a time: the
 * directory is locked (`<directory>.lock`) while open, and a second opening fails saying which
 * process has it.
 */
export const makePglite = (
  directory: string,
  options?: { readonly onQuery?: ((sql: string) => void) | undefined },
): Effect.Effect<Store.SqlStateStore, StateStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const failure = (cause: unknown) =>
      new StateStoreError({
        operation: `opening the embedded database in ${directory}`,
        message: cause instanceof Error ? cause.message : String(cause),
        cause,
      })
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          await mkdir(directory, { recursive: true })
          return DirectoryLock.take(directory)
        },
        catch: failure,
      }),
      (lock) => Effect.promise(() => lock.release()),
    )
    const pglite = yield* Effect.tryPromise({
      try: async () => {
        // A new store starts from the build's dump of an empty database when there is one.
        const db = new PGlite(directory, await PgliteTemplate.options(directory))
        await db.waitReady
        return db
      },
      catch: failure,
    })
    return yield* make({
      dialect: new PGliteDialect(pglite),
      kind: "pglite",
      location: directory,
      onQuery: options?.onQuery,
    })
  })

/** Where the embedded state lives unless configured otherwise, relative to the working directory. */
export const defaultDirectory = ".pipeline/state"

/** The embedded default: PGlite persisted in `directory`, e.g. `.pipeline/state`. */
export const layerPglite = (directory: string): Layer.Layer<StateStore, StateStoreError> =>
  Layer.scoped(StateStore, makePglite(directory))

/** A URL for messages: the password (in the user part or the query) replaced by `***`. */
export const redactUrl: (url: string) => string = SecretUrl.redact

const scheme = (url: string): string | undefined => /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase()

/**
 * Opens the state store a URL names: `postgres://…` / `postgresql://…`, `mysql://…` /
 * `mariadb://…` (the pool comes from `drivers`), or a directory path for embedded PGlite.
 */
export const makeFromUrl = (
  url: string | Redacted.Redacted<string>,
  drivers: Drivers,
  options?: { readonly onQuery?: ((sql: string) => void) | undefined },
): Effect.Effect<Store.SqlStateStore, StateStoreError, Scope.Scope> =>
  Effect.suspend(() => {
    const raw = (Redacted.isRedacted(url) ? Redacted.value(url) : url).trim()
    const kind = scheme(raw)
    const location = redactUrl(raw)
    const secrets = SecretUrl.secretsOf(raw)
    const refuse = (message: string) =>
      Effect.fail(new StateStoreError({ operation: "opening the state store", message }))
    const pool = <P>(make: ((url: string) => P) | undefined, name: string, driverUrl: string) =>
      make === undefined
        ? refuse(`${location}: no ${name} driver was given to open this URL`)
        : Effect.try({
            try: () => make(driverUrl),
            catch: (cause) =>
              new StateStoreError({
                operation: "opening the state store",
                message: scrubber(secrets)(
                  `${location}: ${cause instanceof Error ? cause.message : String(cause)}`,
                ),
                cause,
              }),
          })
    switch (kind) {
      case undefined:
      case "file":
        return makePglite(kind === "file" ? fileURLToPath(raw) : raw, options)
      case "postgres":
      case "postgresql":
        return Effect.flatMap(pool(drivers.postgres, "PostgreSQL", raw), (p) =>
          make({
            dialect: new PostgresDialect({ pool: p }),
            kind: "postgres",
            location,
            secrets,
            ...options,
          }),
        )
      case "mysql":
      case "mariadb":
        return Effect.flatMap(pool(drivers.mysql, "MySQL", raw.replace(/^mariadb:/i, "mysql:")), (p) =>
          make({ dialect: new MysqlDialect({ pool: p }), kind: "mysql", location, secrets, ...options }),
        )
      default:
        return refuse(
          `${location}: unsupported state store URL; use postgres://…, mysql://…, mariadb://… or a directory path`,
        )
    }
  })

/** The state store a URL names (see `makeFromUrl`). */
export const layerFromUrl = (
  url: string | Redacted.Redacted<string>,
  drivers: Drivers,
): Layer.Layer<StateStore, StateStoreError> => Layer.scoped(StateStore, makeFromUrl(url, drivers))

/** The state store whose URL comes from configuration, e.g. `Config.redacted("STATE_URL")`. */
export const layerConfig = (
  url: Config.Config<string | Redacted.Redacted<string>>,
  drivers: Drivers,
): Layer.Layer<StateStore, StateStoreError | ConfigError.ConfigError> =>
  Layer.scoped(
    StateStore,
    Effect.flatMap(url, (u) => makeFromUrl(u, drivers)),
  )
