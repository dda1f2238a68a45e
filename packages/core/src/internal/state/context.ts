import { Clock, Effect } from "effect"
import type { Kysely, Transaction } from "kysely"
import { StateStoreError } from "../../StateStore.js"
import type { Database, Kind } from "./schema.js"

/**
 * What every part of the store works through: the database, its dialect, and `attempt`, which
 * runs one operation as an effect (the clock read once, the error named and scrubbed, deadlocks
 * retried).
 */
export interface StoreContext {
  readonly db: Kysely<Database>
  readonly kind: Kind
  /** Runs `run` with the current time in milliseconds; `operation` names it in a failure. */
  readonly attempt: <A>(
    operation: string,
    run: (now: number) => Promise<A>,
  ) => Effect.Effect<A, StateStoreError>
  readonly inTransaction: <A>(body: (trx: Transaction<Database>) => Promise<A>) => Promise<A>
}

const errorText = (e: unknown): string => {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code
    return typeof code === "string" && !e.message.includes(code) ? `${e.message} (${code})` : e.message
  }
  return String(e)
}

/**
 * A deadlock or serialization failure: the database rolled the transaction back and asks for it
 * to be run again. Every operation here is one transaction, so running it again is safe.
 */
const isRetryable = (e: unknown): boolean => {
  const error = e as { errno?: unknown; code?: unknown } | null
  return error?.errno === 1213 || error?.code === "40P01" || error?.code === "40001"
}

/** The context over a migrated database. `scrub` hides secrets in error messages. */
export const make = (options: {
  readonly db: Kysely<Database>
  readonly kind: Kind
  readonly scrub: (text: string) => string
}): StoreContext => {
  const { db, kind, scrub } = options
  return {
    db,
    kind,
    attempt: (operation, run) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.tryPromise({
          try: () => run(now),
          catch: (cause) => new StateStoreError({ operation, message: scrub(errorText(cause)), cause }),
        }).pipe(Effect.retry({ times: 3, while: (e) => isRetryable(e.cause) })),
      ),
    inTransaction: (body) => db.transaction().execute(body),
  }
}
