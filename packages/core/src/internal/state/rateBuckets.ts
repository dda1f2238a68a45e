import { sql } from "kysely"
import type { RateBuckets } from "../../RateBuckets.js"
import type { StoreContext } from "./context.js"

/**
 * The shared leaky buckets on PostgreSQL: table `rate_buckets`, one row per bucket (a portal's
 * origin), its `level` as of `updated_ms`. A grant is one `UPDATE … RETURNING`: the row lock
 * orders concurrent grants, and PostgreSQL evaluates the second one against the row the first
 * committed, so processes never hand out the same places twice.
 *
 * The table is made on first use rather than by a schema migration: only PostgreSQL stores have
 * it, and a lost row only forgets a few seconds of bucket level. It is `unlogged` for the same
 * reason: a grant then commits without waiting for the disk (on a busy disk a logged grant took
 * 80 ms, an unlogged one a fraction of a millisecond); after a database crash the table is empty,
 * and the portal answers 503 to what the forgotten level would have held back, until the sinks'
 * retries and the next grants settle it.
 */

const createTable = sql`create unlogged table if not exists rate_buckets (
  bucket text primary key,
  level double precision not null,
  updated_ms double precision not null,
  granted integer not null default 0
)`

/** A concurrent `create table if not exists` may lose the race on the catalog: the table is there. */
const isAlreadyMade = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code
  return code === "23505" || code === "42P07"
}

/** The buckets' part of a PostgreSQL store. */
export const make = ({ db, attempt }: StoreContext): RateBuckets => {
  let ready: Promise<void> | undefined
  const ensure = (key: string, now: number): Promise<void> => {
    ready ??= createTable.execute(db).then(
      () => undefined,
      (e: unknown) => {
        if (!isAlreadyMade(e)) {
          ready = undefined
          throw e
        }
      },
    )
    return ready.then(async () => {
      await sql`insert into rate_buckets (bucket, level, updated_ms) values (${key}, 0, ${now})
        on conflict (bucket) do nothing`.execute(db)
    })
  }
  // The level drained by the time since the bucket's last use; a clock behind it drains nothing.
  const drained = (rate: number, now: number) =>
    sql`greatest(0, level - greatest(0, ${now}::double precision - updated_ms) / 1000.0 * ${rate}::double precision)`
  return {
    grant: ({ key, rate, capacity, want, now }) =>
      attempt(`granting requests from rate bucket ${key}`, async () => {
        const level = drained(rate, now)
        // Whole places free under `capacity` (with a hair of tolerance for float rounding), or,
        // with none free, the next place to come free: reserved, so the caller waits for it
        // rather than asks again (one round trip per grant however many processes wait).
        const free = sql`floor(${capacity}::double precision + 1e-9 - ${level})`
        const granted = sql`(case when ${free} >= 1 then least(${want}::integer, ${free}) else 1 end)::integer`
        const update = () =>
          sql<{ granted: number; level: number }>`update rate_buckets
            set granted = ${granted}, level = ${level} + ${granted}, updated_ms = greatest(updated_ms, ${now}::double precision)
            where bucket = ${key}
            returning granted, level`.execute(db)
        // The first grant on a store (or for a portal) makes the table (or the row).
        let result = await update().catch((e: unknown) => {
          if ((e as { code?: unknown } | null)?.code === "42P01") return { rows: [] }
          throw e
        })
        if (result.rows.length === 0) {
          await ensure(key, now)
          result = await update()
        }
        const row = result.rows[0]
        if (row === undefined) throw new Error(`rate bucket ${key} vanished while granting`)
        return { granted: Number(row.granted), level: Number(row.level) }
      }),
    fill: ({ key, rate, capacity, now }) =>
      attempt(`filling rate bucket ${key}`, async () => {
        await ensure(key, now)
        await sql`update rate_buckets
          set level = greatest(${drained(rate, now)}, ${capacity}::double precision), updated_ms = greatest(updated_ms, ${now}::double precision)
          where bucket = ${key}`.execute(db)
      }),
  }
}
