import { existsSync } from "node:fs"
import { mkdir, rm } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Clock, type Config, type ConfigError, Effect, Layer, Redacted, type Scope } from "effect"
import {
  type Dialect,
  Kysely,
  MysqlDialect,
  type MysqlPool,
  PostgresDialect,
  type PostgresPool,
} from "kysely"
import * as DirectoryLock from "./internal/state/directoryLock.js"
import * as Migrations from "./internal/state/migrations.js"
import type { Database, Kind } from "./internal/state/schema.js"
import { WasmSqliteDialect } from "./internal/state/sqliteDialect.js"
import * as Store from "./internal/state/store.js"
import * as SecretUrl from "./SecretUrl.js"
import { StateStore, StateStoreError } from "./StateStore.js"

/**
 * The state store on SQL through Kysely: PostgreSQL, MySQL/MariaDB, or embedded in a directory
 * (the default, so a fresh clone needs no server): SQLite for new directories, PGlite (embedded
 * PostgreSQL) for directories made before SQLite was the default. Migrations run when the store
 * opens; the tables are plain SQL a user can query (`id_map`, `checkpoints`, `dead_letters`,
 * `runs`, `locks`, `credentials`, `bindings`, `schema_migrations`).
 *
 * Core never imports `pg` or `mysql2`: for a server database the caller passes the pool, or a
 * `Drivers` factory that makes one from a URL.
 */

export { maxSourceKeyLength } from "./internal/state/keys.js"
export type { LockHolder } from "./internal/state/locks.js"
export type { SqlStateStore } from "./internal/state/store.js"

export type DialectKind = Kind

export interface Options {
  /** A Kysely dialect over the caller's pool (`PostgresDialect`, `MysqlDialect`, `PGliteDialect`, …). */
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

/** Takes the directory's lock (creating the directory) for the scope. */
const lockDirectory = (directory: string, failure: (cause: unknown) => StateStoreError) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        await mkdir(directory, { recursive: true })
        return DirectoryLock.take(directory)
      },
      catch: failure,
    }),
    (lock) => Effect.promise(() => lock.release()),
  )

const openingFailure = (directory: string) => (cause: unknown) =>
  new StateStoreError({
    operation: `opening the embedded database in ${directory}`,
    message: cause instanceof Error ? cause.message : String(cause),
    cause,
  })

interface EmbeddedOptions {
  readonly onQuery?: ((sql: string) => void) | undefined
}

/**
 * Opens PGlite persisted in `directory` (created if missing). One process at a time: the
 * directory is locked (`<directory>.lock`) while open, and a second opening fails saying which
 * process has it. PGlite loads only here: opening it costs about 1 s and 300 MB, so runs on
 * SQLite or a server never pay for it.
 */
export const makePglite = (
  directory: string,
  options?: EmbeddedOptions,
): Effect.Effect<Store.SqlStateStore, StateStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const failure = openingFailure(directory)
    yield* lockDirectory(directory, failure)
    const dialect = yield* Effect.tryPromise({
      try: async () => {
        const [{ PGlite }, { PGliteDialect }, PgliteTemplate] = await Promise.all([
          import("@electric-sql/pglite"),
          import("kysely-pglite-dialect"),
          import("./internal/state/pgliteTemplate.js"),
        ])
        // A new store starts from the build's dump of an empty database when there is one.
        const db = new PGlite(directory, await PgliteTemplate.options(directory))
        await db.waitReady
        return new PGliteDialect(db)
      },
      catch: failure,
    })
    return yield* make({ dialect, kind: "pglite", location: directory, onQuery: options?.onQuery })
  })

/** The SQLite database file inside an embedded state directory. */
export const sqliteFile = "state.sqlite"

/**
 * Opens SQLite in `directory` (the file `state.sqlite`, created if missing), under the same
 * directory lock as PGlite.
 *
 * SQLite is `node-sqlite3-wasm`: SQLite compiled to WebAssembly, so the install builds nothing
 * and downloads nothing beyond the npm registry, on Node 20, 22 and 24 alike. Measured with
 * `bench/startup.ts` (a 30-record first run of the installed command, one round on the shared
 * 2-core machine): 5.3 s and 254 MB, against 7.7 s and 564 MB on PGlite and 3.0 s and 204 MB
 * with PostgreSQL state. better-sqlite3 (native) fetches its prebuilt binary from GitHub, so
 * offline, and in `test/package.test.ts`'s plain `npm install`, it compiles SQLite from source
 * with node-gyp at every install; `node:sqlite` does not exist on Node 20.
 *
 * Settings, and why:
 * - `locking_mode = exclusive`, then `journal_mode = wal`: the directory lock already keeps a
 *   second process out, and WAL without shared memory (this build's file system layer has none)
 *   needs exclusive mode. WAL writes each commit once, appended, instead of a rollback journal's
 *   copy-then-write.
 * - `synchronous = full`: each commit's WAL frames are fsynced before the commit returns, so a
 *   committed id-map row survives a kill -9 (which `normal` would also survive) and a power cut
 *   (which `normal` would not: it could lose the last commits, whose items exist in the portal).
 * - `busy_timeout`: a statement waits for SQLite's file lock instead of failing at once; with
 *   the directory lock, only a stale lock could make it wait, and that is removed below.
 */
export const makeSqlite = (
  directory: string,
  options?: EmbeddedOptions,
): Effect.Effect<Store.SqlStateStore, StateStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const failure = openingFailure(directory)
    yield* lockDirectory(directory, failure)
    const file = join(directory, sqliteFile)
    const open = async () => {
      // SQLite's lock in this build is a directory beside the file (`state.sqlite.lock`); a
      // process killed with it held leaves it behind. Holding the directory lock, this process
      // is the only one here, so a lock left over is stale.
      await rm(`${file}.lock`, { recursive: true, force: true })
      const { Database } = (await import("node-sqlite3-wasm")).default
      const db = new Database(file)
      try {
        for (const pragma of [
          "pragma locking_mode = exclusive",
          "pragma journal_mode = wal",
          "pragma synchronous = full",
          "pragma busy_timeout = 5000",
        ]) {
          db.all(pragma)
        }
      } catch (e) {
        db.close()
        throw e
      }
      return db
    }
    // Opened here, not on Kysely's first query, so a file that is not a database fails as opening.
    const db = yield* Effect.tryPromise({ try: open, catch: failure })
    return yield* make({
      dialect: new WasmSqliteDialect(db),
      kind: "sqlite",
      location: directory,
      onQuery: options?.onQuery,
    })
  })

/** PGlite's data directories hold `PG_VERSION`; SQLite's hold `state.sqlite`. */
const holdsPglite = (directory: string) => existsSync(join(directory, "PG_VERSION"))

let toldSqliteIsDefault = false

/**
 * Opens the embedded store in `directory`: the PGlite database it already holds (a state
 * directory made before SQLite became the default keeps working, and the user is told once),
 * else SQLite.
 */
export const makeEmbedded = (
  directory: string,
  options?: EmbeddedOptions,
): Effect.Effect<Store.SqlStateStore, StateStoreError, Scope.Scope> =>
  Effect.suspend(() => {
    if (!holdsPglite(directory)) return makeSqlite(directory, options)
    const tell = toldSqliteIsDefault
      ? Effect.void
      : Effect.logInfo(
          `${directory} holds PGlite state and stays on PGlite; new state directories use SQLite, the embedded default now (lighter and faster)`,
        )
    toldSqliteIsDefault = true
    return Effect.zipRight(tell, makePglite(directory, options))
  })

/** Where the embedded state lives unless configured otherwise, relative to the working directory. */
export const defaultDirectory = ".pipeline/state"

/** The embedded default in `directory`, e.g. `.pipeline/state`: SQLite, or the PGlite it holds (see `makeEmbedded`). */
export const layerEmbedded = (directory: string): Layer.Layer<StateStore, StateStoreError> =>
  Layer.scoped(StateStore, makeEmbedded(directory))

/** SQLite in `directory` (see `makeSqlite`). */
export const layerSqlite = (directory: string): Layer.Layer<StateStore, StateStoreError> =>
  Layer.scoped(StateStore, makeSqlite(directory))

/** PGlite persisted in `directory`: the embedded store before SQLite (see `makePglite`). */
export const layerPglite = (directory: string): Layer.Layer<StateStore, StateStoreError> =>
  Layer.scoped(StateStore, makePglite(directory))

/** A URL for messages: the password (in the user part or the query) replaced by `***`. */
export const redactUrl: (url: string) => string = SecretUrl.redact

const scheme = (url: string): string | undefined =>
  (/^([a-z][a-z0-9+.-]*):\/\//i.exec(url) ?? /^(sqlite|pglite):/i.exec(url))?.[1]?.toLowerCase()

/** `sqlite:dir`, `sqlite://dir` and `sqlite:///abs/dir` (likewise `pglite:`) name the directory `dir`. */
const embeddedPath = (url: string): string => url.replace(/^[a-z]+:(\/\/)?/i, "")

/**
 * Opens the state store a URL names: `postgres://…` / `postgresql://…`, `mysql://…` /
 * `mariadb://…` (the pool comes from `drivers`), a directory path for the embedded default
 * (SQLite, or the PGlite the directory already holds), or `sqlite:<dir>` / `pglite:<dir>` to
 * choose the embedded database explicitly.
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
        return makeEmbedded(kind === "file" ? fileURLToPath(raw) : raw, options)
      case "sqlite": {
        const directory = embeddedPath(raw)
        return holdsPglite(directory)
          ? refuse(
              `${directory} holds PGlite state; open it as pglite:${directory} (or as the plain directory)`,
            )
          : makeSqlite(directory, options)
      }
      case "pglite": {
        const directory = embeddedPath(raw)
        return existsSync(join(directory, sqliteFile))
          ? refuse(
              `${directory} holds SQLite state; open it as sqlite:${directory} (or as the plain directory)`,
            )
          : makePglite(directory, options)
      }
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
          `${location}: unsupported state store URL; use postgres://…, mysql://…, mariadb://…, a directory path, sqlite:<directory> or pglite:<directory>`,
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
