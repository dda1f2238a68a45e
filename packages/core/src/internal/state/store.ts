import type { Effect, Option } from "effect"
import { type Kysely, sql } from "kysely"
import type { StateStore, StateStoreError } from "../../StateStore.js"
import * as Bindings from "./bindings.js"
import * as Checkpoints from "./checkpoints.js"
import * as Commit from "./commit.js"
import * as Context from "./context.js"
import * as Credentials from "./credentials.js"
import * as DeadLetters from "./deadLetters.js"
import * as IdMap from "./idMap.js"
import * as Locks from "./locks.js"
import * as RateBuckets from "./rateBuckets.js"
import * as Runs from "./runs.js"
import type { Database, Kind } from "./schema.js"
import * as Time from "./time.js"

/**
 * The SQL state store, composed of one part per thing users query: runs, the id map,
 * checkpoints, dead letters, locks and credentials. `commit` writes across the id map, dead
 * letters and checkpoints in one transaction; `reset` forgets all three.
 */

/** The SQL state store: the `StateStore` contract plus what only a SQL store can tell. */
export interface SqlStateStore extends StateStore {
  /** The schema versions this opening applied: empty when the schema was current already. */
  readonly migrated: ReadonlyArray<number>
  /** The applied schema migrations, oldest first (what `schema_migrations` holds). */
  readonly schemaMigrations: Effect.Effect<
    ReadonlyArray<{ readonly version: number; readonly name: string; readonly appliedAt: Date }>,
    StateStoreError
  >
  /** The current holder of lock `name`, expired or not; none when nobody has taken it. */
  readonly lockHolder: (name: string) => Effect.Effect<Option.Option<Locks.LockHolder>, StateStoreError>
}

/** Builds the store over a migrated database. `scrub` hides secrets in error messages. */
export const make = (options: {
  readonly db: Kysely<Database>
  readonly kind: Kind
  readonly location: string
  readonly scrub: (text: string) => string
  readonly migrated: ReadonlyArray<number>
}): SqlStateStore => {
  const context = Context.make(options)
  const { db, kind, attempt, inTransaction } = context
  return {
    dialect: kind,
    location: options.location,
    migrated: options.migrated,
    ...Runs.make(context),
    ...IdMap.make(context),
    commit: Commit.make(context),
    ...Checkpoints.make(context),
    ...DeadLetters.make(context),
    ...Locks.make(context),
    ...Credentials.make(context),
    ...Bindings.make(context),
    // Shared rate limits need a server every process reaches: PostgreSQL only (see RateBuckets).
    ...(kind === "postgres" ? { rateBuckets: RateBuckets.make(context) } : {}),

    reset: (pipeline, entity) =>
      attempt(entity === undefined ? `resetting pipeline ${pipeline}` : `resetting entity ${entity}`, () =>
        inTransaction(async (trx) => {
          for (const table of ["id_map", "checkpoints", "dead_letters"] as const) {
            let query = trx.deleteFrom(table).where("pipeline", "=", pipeline)
            if (entity !== undefined) query = query.where("entity", "=", entity)
            await query.execute()
          }
          if (entity === undefined)
            await trx.deleteFrom("bindings").where("pipeline", "=", pipeline).execute()
        }),
      ),

    schemaMigrations: attempt("reading the schema version", async () => {
      const rows = await db
        .selectFrom("schema_migrations")
        .select(["version", "name", Time.read(kind, sql.ref("applied_at")).as("applied_at")])
        .orderBy("version")
        .execute()
      return rows.map((r) => ({
        version: Number(r.version),
        name: r.name,
        appliedAt: Time.fromSql(r.applied_at),
      }))
    }),
  }
}
