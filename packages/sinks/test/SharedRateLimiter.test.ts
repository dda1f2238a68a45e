/**
 * The shared limiter on a real PostgreSQL state store: two limiters in two "processes" (two
 * stores, each with its own pool) on one portal draw on one bucket and never overflow the
 * portal's together. Time is Effect's TestClock, moved only while no grant is in the database,
 * so the bucket's clock is the virtual one.
 */

import * as RateLimit from "@b24etl/bitrix24-emulator/RateLimit"
import type { RateBuckets } from "@b24etl/core/RateBuckets"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, type Scope, TestClock } from "effect"
import pg from "pg"
import * as RateLimiter from "../src/RateLimiter.js"
import * as SharedRateLimiter from "../src/SharedRateLimiter.js"

const adminUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const database = "b24etl_fleet19_shared_limiter"

/** A fresh database for the scope, dropped when it closes. */
const freshDatabase: Effect.Effect<string, never, Scope.Scope> = Effect.gen(function* () {
  const admin = yield* Effect.acquireRelease(
    Effect.sync(() => new pg.Pool({ connectionString: adminUrl, max: 1 })),
    (pool) => Effect.promise(() => pool.end()),
  )
  // A pool's `end()` resolves before its sockets close: wait for them rather than force them off.
  const drop = Effect.promise(async () => {
    for (let i = 0; i < 50; i++) {
      try {
        await admin.query(`drop database if exists ${database}`)
        return
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    await admin.query(`drop database if exists ${database} with (force)`)
  })
  yield* drop
  yield* Effect.acquireRelease(
    Effect.promise(() => admin.query(`create database ${database}`)),
    () => drop,
  )
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
})

/** One "process": a state store with a pool of its own. */
const processStore = (url: string) =>
  StateStoreSql.makeFromUrl(url, { postgres: (u) => new pg.Pool({ connectionString: u, max: 2 }) })

interface Recorded {
  /** Each place granted, at the virtual time it may start (a reserved one later than granted). */
  readonly starts: Array<number>
  calls: number
  inFlight: number
}

/** The store's buckets, recording what they grant and whether a grant is in the database. */
const recording = (buckets: RateBuckets, record: Recorded): RateBuckets => ({
  grant: (request) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        record.inFlight++
        record.calls++
      }),
      () =>
        Effect.tap(buckets.grant(request), (g) =>
          Effect.sync(() => {
            const wait = Math.max(0, Math.ceil(((g.level - request.capacity) / request.rate) * 1000))
            for (let i = 0; i < g.granted; i++) record.starts.push(request.now + wait)
          }),
        ),
      () =>
        Effect.sync(() => {
          record.inFlight--
        }),
    ),
  fill: buckets.fill,
})

const realPause = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 2)))

/** Runs `n` requests at once through each limiter; the clock moves `stepMs` whenever no grant is in flight. */
const runAll = (
  limits: ReadonlyArray<RateLimiter.Limit>,
  n: number,
  records: ReadonlyArray<Recorded>,
  stepMs: number,
) =>
  Effect.gen(function* () {
    const fibers = yield* Effect.forEach(limits, (limit) =>
      Effect.fork(
        Effect.forEach(Array.from({ length: n }), () => limit(Effect.void), { concurrency: "unbounded" }),
      ),
    )
    const done = () =>
      Effect.map(Effect.forEach(fibers, Fiber.poll), (polls) => polls.every((p) => p._tag === "Some"))
    while (!(yield* done())) {
      if (records.every((r) => r.inFlight === 0)) yield* TestClock.adjust(stepMs)
      yield* realPause
    }
    yield* Effect.forEach(fibers, Fiber.join)
  })

describe("SharedRateLimiter (PostgreSQL)", () => {
  it.scoped(
    "two processes on one portal never overflow its bucket together, and keep it busy",
    () =>
      Effect.gen(function* () {
        const url = yield* freshDatabase
        const records: Array<Recorded> = [
          { starts: [], calls: 0, inFlight: 0 },
          { starts: [], calls: 0, inFlight: 0 },
        ]
        const limits = yield* Effect.forEach(records, (record) =>
          Effect.gen(function* () {
            const store = yield* processStore(url)
            assert.isDefined(store.rateBuckets, "a PostgreSQL store shares rate buckets")
            return yield* SharedRateLimiter.make(
              recording(store.rateBuckets!, record),
              "https://acme.bitrix24.com",
              RateLimiter.standard,
            )
          }),
        )
        const n = 70
        yield* runAll(limits, n, records, 100)

        // Every place granted was used: 140 requests, 140 places, none wasted. A reserved place
        // starts when the bucket has room for it: `level - capacity` over the rate after the grant.
        const times = records.flatMap((r) => r.starts).sort((a, b) => a - b)
        assert.strictEqual(times.length, 2 * n)
        // Both processes wrote, through one bucket: the portal's own bucket admits every request.
        for (const r of records) assert.isAbove(r.starts.length, 0)
        const bucket = new RateLimit.LeakyBucket(RateLimiter.standard)
        for (const t of times)
          assert.isTrue(bucket.take(t), `a request at ${t} ms overflows the portal's bucket`)
        // At the ceiling: a burst of 40, then 2/s for the other 100 (50 s), give or take a second.
        const burst = RateLimiter.standard.burst - SharedRateLimiter.headroom(RateLimiter.standard)
        // (The clock moves between round trips, so the burst spreads over a few steps.)
        assert.isAtMost(
          times.at(-1)! - times[0]!,
          ((2 * n - burst) / RateLimiter.standard.rate) * 1000 + 1000,
        )
        // The database's load: one round trip per grant, a grant admitting up to 4 requests in
        // the burst and one (reserved) past it.
        const calls = records.reduce((sum, r) => sum + r.calls, 0)
        assert.isAtMost(calls, 2 * n)
        assert.isAtMost(calls, Math.ceil(burst / SharedRateLimiter.grantSize) + 2 + (2 * n - burst))
      }),
    120_000,
  )

  it.scoped(
    "a 503 seen by one process slows the other to the drain rate",
    () =>
      Effect.gen(function* () {
        const url = yield* freshDatabase
        const records: Array<Recorded> = [
          { starts: [], calls: 0, inFlight: 0 },
          { starts: [], calls: 0, inFlight: 0 },
        ]
        const [first, second] = yield* Effect.forEach(records, (record) =>
          Effect.gen(function* () {
            const store = yield* processStore(url)
            return yield* SharedRateLimiter.make(
              recording(store.rateBuckets!, record),
              "https://acme.bitrix24.com",
              RateLimiter.standard,
            )
          }),
        )
        yield* runAll([first!], 1, records, 100)
        const filled = yield* Clock.currentTimeMillis
        yield* first!.full
        yield* runAll([second!], 3, records, 100)
        // Not the burst the second process would have alone: one request per 500 ms.
        const [a, b, c] = records[1]!.starts
        assert.isAtLeast(a! - filled, 500)
        assert.isAtLeast(b! - filled, 1000)
        assert.isAtLeast(c! - filled, 1500)
        assert.isAtMost(c! - filled, 1500 + 3 * 100)
      }),
    120_000,
  )

  it.scoped("the limits off need no database", () =>
    Effect.gen(function* () {
      const record: Recorded = { starts: [], calls: 0, inFlight: 0 }
      const never: RateBuckets = {
        grant: () => Effect.die("no grant expected"),
        fill: () => Effect.die("no fill expected"),
      }
      const limit = yield* SharedRateLimiter.make(
        recording(never, record),
        "https://acme.bitrix24.com",
        RateLimiter.unlimited,
      )
      const answers = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        (i) => limit(Effect.succeed(i)),
      )
      assert.deepStrictEqual(answers, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      assert.strictEqual(record.calls, 0)
    }),
  )
})
