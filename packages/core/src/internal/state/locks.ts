import { type Effect, Option } from "effect"
import { sql } from "kysely"
import type { StateStore, StateStoreError } from "../../StateStore.js"
import type { StoreContext } from "./context.js"
import { checkLength } from "./keys.js"
import * as Time from "./time.js"

/** Locks: a named lease per pipeline, so that two processes never run it at once (`Lock.ts`). */

/** Who holds a lock, for messages (`Lock.acquire` names the holder when it cannot take it). */
export interface LockHolder {
  readonly owner: string
  readonly acquiredAt: Date
  readonly expiresAt: Date
}

/** MySQL's answers to two transactions racing for the same new row: worth one more try. */
const isMysqlRace = (e: unknown): boolean => {
  const errno = (e as { errno?: unknown } | null)?.errno
  return errno === 1213 || errno === 1062 || errno === 1205
}

/** One atomic statement on PostgreSQL: insert, or take over when the lease ran out, or renew. */
const acquirePostgres = async (
  { db }: StoreContext,
  name: string,
  owner: string,
  now: string,
  expires: string,
) => {
  const taken = await db
    .insertInto("locks")
    .values({ name, owner, acquired_at: now, expires_at: expires })
    .onConflict((oc) =>
      oc
        .column("name")
        .doUpdateSet((eb) => ({
          owner: eb.ref("excluded.owner"),
          expires_at: eb.ref("excluded.expires_at"),
          acquired_at: sql`case when locks.owner = excluded.owner then locks.acquired_at else excluded.acquired_at end`,
        }))
        .where((eb) =>
          eb.or([
            eb("locks.owner", "=", eb.ref("excluded.owner")),
            eb("locks.expires_at", "<=", eb.ref("excluded.acquired_at")),
          ]),
        ),
    )
    .returning("owner")
    .executeTakeFirst()
  return taken !== undefined
}

/**
 * MySQL has no conditional upsert that reports whether it took the row, so: `insert ignore` for a
 * lock nobody has taken yet, else a transaction that locks the row (`for update`) and decides.
 * Read committed keeps InnoDB from taking gap locks on a missing row; the deadlocks that racing
 * inserts and deletes can still cause are retried, as MySQL asks.
 */
const acquireMysql = async (
  { db }: StoreContext,
  name: string,
  owner: string,
  now: string,
  expires: string,
): Promise<boolean> => {
  for (let round = 0; ; round++) {
    try {
      const inserted = await db
        .insertInto("locks")
        .ignore()
        .values({ name, owner, acquired_at: now, expires_at: expires })
        .executeTakeFirst()
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return true
      const decided = await db
        .transaction()
        .setIsolationLevel("read committed")
        .execute(async (trx) => {
          const row = await trx
            .selectFrom("locks")
            .select(["owner", sql<number | string>`expires_at <= ${now}`.as("expired")])
            .where("name", "=", name)
            .forUpdate()
            .executeTakeFirst()
          if (row === undefined) return undefined
          if (row.owner !== owner && Number(row.expired) !== 1) return false
          await trx
            .updateTable("locks")
            .set({ owner, expires_at: expires, ...(row.owner === owner ? {} : { acquired_at: now }) })
            .where("name", "=", name)
            .execute()
          return true
        })
      // `undefined`: released between the two statements; take it from the top.
      if (decided !== undefined) return decided
    } catch (e) {
      if (round >= 20 || !isMysqlRace(e)) throw e
      await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 20))
    }
  }
}

/** The locks' part of the store, and `lockHolder`, which only the SQL store answers. */
export const make = (
  context: StoreContext,
): Pick<StateStore, "acquireLock" | "releaseLock"> & {
  readonly lockHolder: (name: string) => Effect.Effect<Option.Option<LockHolder>, StateStoreError>
} => {
  const { db, kind, attempt } = context
  return {
    acquireLock: (name, owner, leaseMs) =>
      attempt(`taking lock ${name}`, async (millis) => {
        checkLength("lock name", name)
        checkLength("lock owner", owner)
        const now = Time.toSql(millis)
        const expires = Time.toSql(millis + Math.max(0, Math.ceil(leaseMs)))
        return kind === "mysql"
          ? acquireMysql(context, name, owner, now, expires)
          : acquirePostgres(context, name, owner, now, expires)
      }),

    releaseLock: (name, owner) =>
      attempt(`releasing lock ${name}`, async () => {
        await db.deleteFrom("locks").where("name", "=", name).where("owner", "=", owner).execute()
      }),

    lockHolder: (name) =>
      attempt(`reading lock ${name}`, async () => {
        const row = await db
          .selectFrom("locks")
          .select([
            "owner",
            Time.read(kind, sql.ref("acquired_at")).as("acquired_at"),
            Time.read(kind, sql.ref("expires_at")).as("expires_at"),
          ])
          .where("name", "=", name)
          .executeTakeFirst()
        return row === undefined
          ? Option.none()
          : Option.some({
              owner: row.owner,
              acquiredAt: Time.fromSql(row.acquired_at),
              expiresAt: Time.fromSql(row.expires_at),
            })
      }),
  }
}
