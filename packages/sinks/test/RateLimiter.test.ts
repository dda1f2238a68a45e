/**
 * The client-side limiter and the operating-time pauses, on Effect's TestClock: no real sleeps.
 */
import * as RateLimit from "@b24etl/bitrix24-emulator/RateLimit"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Either, Fiber, TestClock } from "effect"
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
  const importMethod = "crm.item.batchImport"
  const charge = (method: string, seconds: number) => () => ({
    charges: [{ method, seconds }],
    size: seconds,
  })

  it.effect("a request waits while the reported use, the work in flight and itself leave no room", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_000_000)
      const tracker = new OperatingTime.Tracker({ budgetSeconds: 100 })
      // 1% of the budget (at least 0.5 s) is kept free for the estimates' error, not a fixed 30 s.
      assert.strictEqual(tracker.margin(importMethod), 1)
      tracker.record(importMethod, { operating: 60, operating_reset_at: 1_100, processing: 4 }, 20)
      assert.closeTo(tracker.perItemSeconds(importMethod)!, 0.2, 1e-9)
      assert.strictEqual(tracker.room(importMethod, 1_000_000), 39)
      // Two requests of 15 s fit next to each other; a third of 20 s waits for one of them to answer.
      const first = yield* Deferred.make<void>()
      const running = yield* OperatingTime.withBudget(tracker, charge(importMethod, 15), () =>
        Deferred.await(first),
      ).pipe(Effect.fork)
      const second = yield* Deferred.make<void>()
      const alongside = yield* OperatingTime.withBudget(tracker, charge(importMethod, 15), () =>
        Deferred.await(second),
      ).pipe(Effect.fork)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(tracker.room(importMethod, 1_000_001), 9)
      const third = yield* OperatingTime.withBudget(
        tracker,
        charge(importMethod, 20),
        () => Effect.void,
      ).pipe(Effect.fork)
      yield* TestClock.adjust("1 second")
      // 60 + 30 in flight + 20 > 99: it waits, though it is far more than 30 s from the budget.
      assert.isTrue((yield* Fiber.poll(third))._tag === "None")
      yield* Deferred.succeed(first, undefined)
      yield* Fiber.join(running)
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(third)
      yield* Deferred.succeed(second, undefined)
      yield* Fiber.join(alongside)
      assert.strictEqual(tracker.room(importMethod, 1_001_201), 39)
    }),
  )

  it.effect(
    "with no room and nothing in flight, waits for operating_reset_at; then one request learns what freed",
    () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(1_000_000)
        const tracker = new OperatingTime.Tracker({ budgetSeconds: 100 })
        tracker.record(importMethod, { operating: 95, operating_reset_at: 1_100 })
        tracker.record("crm.item.list", { operating: 12, operating_reset_at: 1_100 })
        // Other methods have budgets of their own.
        yield* OperatingTime.withBudget(tracker, charge("crm.item.list", 5), () => Effect.void)
        const gate = yield* Deferred.make<void>()
        const probe = yield* OperatingTime.withBudget(tracker, charge(importMethod, 5), () =>
          Deferred.await(gate),
        ).pipe(Effect.fork)
        yield* TestClock.adjust("99 seconds")
        assert.isTrue((yield* Fiber.poll(probe))._tag === "None")
        assert.strictEqual(tracker.room(importMethod, 1_099_000), 4)
        yield* TestClock.adjust("1 second")
        // Past the reset time one request goes; the next waits for its answer.
        const next = yield* OperatingTime.withBudget(
          tracker,
          charge(importMethod, 5),
          () => Effect.void,
        ).pipe(Effect.fork)
        yield* TestClock.adjust("500 millis")
        assert.isTrue((yield* Fiber.poll(next))._tag === "None")
        tracker.record(importMethod, { operating: 40, operating_reset_at: 1_160 })
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(probe)
        yield* TestClock.adjust("100 millis")
        yield* Fiber.join(next)
      }),
  )

  it("learns the budget: raised by a larger report, lowered to what was in use by a 429", () => {
    const tracker = new OperatingTime.Tracker()
    assert.strictEqual(tracker.budget("batch"), 480)
    tracker.record("batch", { operating: 700, operating_reset_at: 500 })
    assert.strictEqual(tracker.budget("batch"), 700)
    tracker.record(importMethod, { operating: 300, operating_reset_at: 500 })
    // Answers of concurrent calls in one window arrive in any order: the larger figure is the later.
    tracker.record(importMethod, { operating: 290, operating_reset_at: 500 })
    assert.strictEqual(tracker.operating(importMethod), 300)
    tracker.exceeded(importMethod, 100_000)
    assert.strictEqual(tracker.budget(importMethod), 300)
    assert.strictEqual(tracker.blockedUntil(importMethod, 100_000), 500_000)
    assert.strictEqual(tracker.room(importMethod, 100_000), 0)
    assert.isUndefined(tracker.blockedUntil(importMethod, 500_000))
    // A 429 without a reset time pauses the fallback 60 s.
    tracker.exceeded("crm.item.update", 0)
    assert.strictEqual(tracker.blockedUntil("crm.item.update", 0), 60_000)
  })

  it.effect("the hard stop: every call waits once the reported use alone reaches the budget", () =>
    Effect.gen(function* () {
      const tracker = new OperatingTime.Tracker({ budgetSeconds: 100, marginSeconds: 10 })
      tracker.record("batch", { operating: 89, operating_reset_at: 500 })
      assert.isUndefined(tracker.blockedUntil("batch", 0))
      tracker.record("batch", { operating: 90, operating_reset_at: 500 })
      assert.strictEqual(tracker.blockedUntil("batch", 0), 500_000)
      const fiber = yield* OperatingTime.awaitBudget(tracker, ["batch"]).pipe(Effect.fork)
      yield* TestClock.adjust("499 seconds")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None")
      yield* TestClock.adjust("1 second")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "Some")
      // Self-hosted portals send no operating time: never a pause, and room without end.
      tracker.record("crm.item.get", {})
      assert.isUndefined(tracker.blockedUntil("crm.item.get", 0))
      assert.strictEqual(tracker.room("crm.item.get", 0), Number.POSITIVE_INFINITY)
      // Calls of 0.1 s or less are not counted by the portal.
      assert.strictEqual(tracker.counted(0.1), 0)
      assert.strictEqual(tracker.counted(0.2), 0.2)
    }),
  )
})
