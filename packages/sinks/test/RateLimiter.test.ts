/**
 * The client-side limiter and the operating-time pauses, on Effect's TestClock: no real sleeps.
 */
import * as RateLimit from "@b24etl/bitrix24-emulator/RateLimit"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Either, Fiber, TestClock } from "effect"
import * as OperatingTime from "../src/OperatingTime.js"
import * as RateLimiter from "../src/RateLimiter.js"

/** Starts `n` tasks at once through `limit` and answers the virtual time each one started. */
const startTimes = (n: number, limit: (e: Effect.Effect<number>) => Effect.Effect<number>, stepMs: number) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      () => limit(Clock.currentTimeMillis),
      { concurrency: "unbounded" },
    ).pipe(Effect.fork)
    const start = yield* Clock.currentTimeMillis
    while ((yield* Fiber.poll(fiber))._tag === "None") yield* TestClock.adjust(stepMs)
    return (yield* Fiber.join(fiber)).map((t) => t - start)
  })

describe("RateLimiter", () => {
  it.scoped("standard: a burst below the portal's bucket, then one request every 500 ms", () =>
    Effect.gen(function* () {
      const limit = yield* RateLimiter.make(RateLimiter.standard)
      const times = (yield* startTimes(120, limit, 500)).slice().sort((a, b) => a - b)
      const burst = RateLimiter.standard.burst - RateLimiter.headroom(RateLimiter.standard)
      assert.strictEqual(burst, 48)
      assert.strictEqual(times.filter((t) => t === 0).length, burst)
      const later = times.slice(burst)
      later.forEach((t, i) => assert.strictEqual(t, (i + 1) * 500))
      // The portal's own bucket (the emulator's implementation) admits every one of them.
      const bucket = new RateLimit.LeakyBucket(RateLimiter.standard)
      for (const t of times) assert.isTrue(bucket.take(t), `request at ${t} ms overflows the portal's bucket`)
    }),
  )

  it.scoped("enterprise: 5/s after a burst of 240", () =>
    Effect.gen(function* () {
      const limit = yield* RateLimiter.make(RateLimiter.enterprise)
      const times = (yield* startTimes(300, limit, 200)).slice().sort((a, b) => a - b)
      assert.strictEqual(times.filter((t) => t === 0).length, 240)
      assert.deepStrictEqual(times.slice(240, 245), [200, 400, 600, 800, 1000])
      const bucket = new RateLimit.LeakyBucket(RateLimiter.enterprise)
      for (const t of times) assert.isTrue(bucket.take(t))
    }),
  )

  it.effect("idle time refills the bucket up to its size, never beyond, and coarse clocks lose nothing", () =>
    Effect.gen(function* () {
      const limit = yield* RateLimiter.make(RateLimiter.standard)
      const first = yield* startTimes(48, limit, 500)
      assert.isTrue(first.every((t) => t === 0))
      yield* TestClock.adjust("60 seconds")
      const second = (yield* startTimes(50, limit, 500)).slice().sort((a, b) => a - b)
      assert.strictEqual(second.filter((t) => t === 0).length, 48)
      assert.deepStrictEqual(second.slice(48), [500, 1000])
      // A clock that moves in uneven 1.3 s steps (a busy event loop) still averages 2/s.
      const third = (yield* startTimes(40, limit, 1300)).slice().sort((a, b) => a - b)
      assert.isAtMost(third[39]!, 40 * 500 + 1300)
      const bucket = new RateLimit.LeakyBucket(RateLimiter.standard)
      for (const t of third) assert.isTrue(bucket.take(t))
    }),
  )

  it.effect("after the portal says its bucket is full, requests go at the drain rate", () =>
    Effect.gen(function* () {
      const limit = yield* RateLimiter.make(RateLimiter.standard)
      yield* limit.full
      const times = (yield* startTimes(4, limit, 100)).slice().sort((a, b) => a - b)
      assert.deepStrictEqual(times, [500, 1000, 1500, 2000])
    }),
  )

  it.scoped("custom limits and unlimited", () =>
    Effect.gen(function* () {
      const limit = yield* RateLimiter.make({ rate: 4, burst: 10 })
      const times = (yield* startTimes(10, limit, 50)).slice().sort((a, b) => a - b)
      // A second of jitter at 4/s keeps 4 of the 10 places free.
      assert.strictEqual(RateLimiter.headroom({ rate: 4, burst: 10 }), 4)
      assert.deepStrictEqual(times, [0, 0, 0, 0, 0, 0, 250, 500, 750, 1000])
      const none = yield* RateLimiter.make(RateLimiter.unlimited)
      const free = yield* startTimes(100, none, 1)
      assert.isTrue(free.every((t) => t === 0))
    }),
  )

  it.effect("one limiter per portal, shared and released with its last user", () =>
    Effect.gen(function* () {
      const before = RateLimiter.activePortals()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const a = yield* RateLimiter.acquire("https://one.example", RateLimiter.standard)
          const b = yield* RateLimiter.acquire("https://one.example", RateLimiter.enterprise)
          const c = yield* RateLimiter.acquire("https://two.example", RateLimiter.standard)
          assert.strictEqual(a.limit, b.limit)
          assert.strictEqual(a.operating, b.operating)
          assert.deepStrictEqual(b.limits, RateLimiter.standard)
          assert.notStrictEqual(a.limit, c.limit)
          assert.strictEqual(RateLimiter.activePortals(), before + 2)
        }),
      )
      assert.strictEqual(RateLimiter.activePortals(), before)
    }),
  )

  it("parses presets and <rate>/<burst>", () => {
    assert.deepStrictEqual(RateLimiter.parse("standard"), Either.right(RateLimiter.standard))
    assert.deepStrictEqual(RateLimiter.parse("Enterprise"), Either.right(RateLimiter.enterprise))
    assert.deepStrictEqual(RateLimiter.parse("0.5/10"), Either.right({ rate: 0.5, burst: 10 }))
    assert.deepStrictEqual(RateLimiter.parse("unlimited"), Either.right(RateLimiter.unlimited))
    assert.isTrue(Either.isLeft(RateLimiter.parse("fast")))
    assert.isTrue(Either.isLeft(RateLimiter.parse("0/10")))
  })
})

describe("OperatingTime", () => {
  it.effect("pauses a method near its budget until operating_reset_at, and only that method", () =>
    Effect.gen(function* () {
      const tracker = new OperatingTime.Tracker()
      yield* TestClock.setTime(1_000_000)
      tracker.record("crm.item.batchImport", { operating: 455, operating_reset_at: 1_100 })
      tracker.record("crm.item.list", { operating: 12, operating_reset_at: 1_100 })
      const list = yield* OperatingTime.awaitBudget(tracker, ["crm.item.list"]).pipe(Effect.fork)
      assert.isDefined(yield* Fiber.join(list).pipe(Effect.as(true)))
      const fiber = yield* OperatingTime.awaitBudget(tracker, ["crm.item.batchImport"]).pipe(Effect.fork)
      yield* TestClock.adjust("99 seconds")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None")
      yield* TestClock.adjust("1 second")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "Some")
      // After the window moved the method runs until the portal reports again.
      assert.isUndefined(tracker.blockedUntil("crm.item.batchImport", 1_100_000))
    }),
  )

  it.effect("under the margin nothing waits; a 429 without a reset time pauses the fallback", () =>
    Effect.gen(function* () {
      const tracker = new OperatingTime.Tracker({ budgetSeconds: 100, marginSeconds: 10 })
      tracker.record("batch", { operating: 89, operating_reset_at: 500 })
      assert.isUndefined(tracker.blockedUntil("batch", 0))
      tracker.record("batch", { operating: 90, operating_reset_at: 500 })
      assert.strictEqual(tracker.blockedUntil("batch", 0), 500_000)
      tracker.exceeded("crm.item.update", 0)
      assert.strictEqual(tracker.blockedUntil("crm.item.update", 0), 60_000)
      const fiber = yield* OperatingTime.awaitBudget(tracker, ["crm.item.update", "batch"]).pipe(Effect.fork)
      yield* TestClock.adjust("60 seconds")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None")
      yield* TestClock.adjust("440 seconds")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "Some")
      // Self-hosted portals send no operating time: never a pause.
      tracker.record("crm.item.get", {})
      assert.isUndefined(tracker.blockedUntil("crm.item.get", 0))
    }),
  )
})
