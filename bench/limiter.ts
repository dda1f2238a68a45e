/**
 * The shared rate limiter's cost on its database: how many grants per second one PostgreSQL
 * state store sustains, with every grant on one portal's row (the worst case: every process
 * writing to the same portal) and spread over many portals' rows.
 *
 *   pnpm tsx bench/limiter.ts [--seconds 5] [--clients 8] [--portals 1,50] [--keep]
 *
 * `--clients` stores (each its own pool of one connection: one process each) call
 * `rateBuckets.grant` for one place in a loop, with the bucket's rate so high that it never
 * fills (every call is granted), for `--seconds` per portal count. The state store is on the
 * local PostgreSQL in its own database (`b24etl_bench_limiter`, dropped at the end unless
 * `--keep`). Printed: grants/s in total and per client, and mean latency per grant. A portal
 * takes 2 (or 5) requests/s, so one PostgreSQL sustaining N grants/s limits N / 2 portals at
 * their ceiling, before any other load on it.
 */
import { parseArgs } from "node:util"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { Clock, Effect } from "effect"
import * as Database from "./database.js"
import { pg } from "./sources-pg.js"

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    clients: { type: "string", default: "8" },
    portals: { type: "string", default: "1,50" },
    keep: { type: "boolean", default: false },
  },
})
const seconds = Number(values.seconds)
const clients = Number(values.clients)
const portalCounts = values.portals.split(",").map(Number)
const database = await Database.fresh("b24etl_bench_limiter")

const measure = (portals: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const stores = yield* Effect.forEach(Array.from({ length: clients }), () =>
        StateStoreSql.makeFromUrl(database.url, {
          postgres: (u) => new pg.Pool({ connectionString: u, max: 1 }),
        }),
      )
      const until = Date.now() + seconds * 1000
      const counts = yield* Effect.forEach(
        stores,
        (store, i) =>
          Effect.gen(function* () {
            let n = 0
            while (Date.now() < until) {
              const now = yield* Clock.currentTimeMillis
              const key = `https://portal-${(i + n) % portals}.example`
              yield* store.rateBuckets!.grant({ key, rate: 1e9, capacity: 1e9, want: 1, now })
              n++
            }
            return n
          }),
        { concurrency: "unbounded" },
      )
      const total = counts.reduce((a, b) => a + b, 0)
      console.log(
        `${portals} portal(s), ${clients} clients: ${Math.round(total / seconds)} grants/s ` +
          `(${Math.round(total / seconds / clients)} per client, ${((seconds * 1000 * clients) / total).toFixed(2)} ms per grant)`,
      )
    }),
  )

for (const portals of portalCounts) await Effect.runPromise(measure(portals))
// The pools' sockets close after `end()` resolves: wait for them before dropping.
await database.done(values.keep === true)
