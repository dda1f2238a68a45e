import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, TestClock } from "effect"
import * as EntityProgress from "../src/EntityProgress.js"

/** Advances the entity by `created` records after `seconds` of TestClock time. */
const after = (p: EntityProgress.EntityProgress, seconds: number, created: number) =>
  Effect.gen(function* () {
    yield* TestClock.adjust(`${seconds} seconds`)
    return EntityProgress.advance(p, { read: created, created }, yield* Clock.currentTimeMillis)
  })

describe("EntityProgress", () => {
  it.effect("counts every outcome as done, not what was read", () =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const p = EntityProgress.advance(
        EntityProgress.start(100, now),
        { read: 60, created: 10, updated: 5, unchanged: 20, failed: 3, skipped: 2 },
        now,
      )
      assert.strictEqual(EntityProgress.done(p.counters), 40)
      assert.strictEqual(EntityProgress.ratio(p), 0.4)
    }),
  )

  it.effect("the rate is the last 10 seconds', not the average since the start", () =>
    Effect.gen(function* () {
      let p = EntityProgress.start(10_000, yield* Clock.currentTimeMillis)
      // 20 s at 100/s, then 10 s at 10/s.
      for (let i = 0; i < 20; i++) p = yield* after(p, 1, 100)
      assert.strictEqual(EntityProgress.rate(p, yield* Clock.currentTimeMillis), 100)
      for (let i = 0; i < 10; i++) p = yield* after(p, 1, 10)
      const now = yield* Clock.currentTimeMillis
      assert.strictEqual(EntityProgress.rate(p, now), 10)
      // The average since the start would say 70/s.
      assert.strictEqual(EntityProgress.done(p.counters) / 30, 70)
      // 7,900 left at 10/s.
      assert.strictEqual(EntityProgress.eta(p, now), 790_000)
      // Nothing done for 10 s more: the current rate is nil.
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(EntityProgress.rate(p, yield* Clock.currentTimeMillis), 0)
    }),
  )

  it.effect("within the first seconds the rate is over the time since the start; no rate at the start", () =>
    Effect.gen(function* () {
      const p0 = EntityProgress.start(1_000, yield* Clock.currentTimeMillis)
      assert.isUndefined(EntityProgress.rate(p0, yield* Clock.currentTimeMillis))
      assert.isUndefined(EntityProgress.eta(p0, yield* Clock.currentTimeMillis))
      const p = yield* after(p0, 4, 200)
      const now = yield* Clock.currentTimeMillis
      assert.strictEqual(EntityProgress.rate(p, now), 50)
      assert.strictEqual(EntityProgress.eta(p, now), 16_000)
      // Without a total there is no time left to tell.
      assert.isUndefined(EntityProgress.eta({ ...p, total: undefined }, now))
    }),
  )

  it.effect("while waiting, the time left is the wait plus the rest at the rate measured while writing", () =>
    Effect.gen(function* () {
      let p = EntityProgress.start(2_000, yield* Clock.currentTimeMillis)
      for (let i = 0; i < 10; i++) p = yield* after(p, 1, 100)
      // The budget is spent: the portal's window moves in 9 minutes.
      const spentAt = yield* Clock.currentTimeMillis
      const wait = {
        what: "the portal's operating-time window: crm.item.batchImport",
        untilMs: spentAt + 540_000,
      }
      assert.strictEqual(EntityProgress.currentWait([wait], spentAt), wait)
      yield* TestClock.adjust("60 seconds")
      const now = yield* Clock.currentTimeMillis
      assert.strictEqual(EntityProgress.rate(p, now), 0)
      // 8 minutes of wait left, then 1,000 records at 100/s.
      assert.strictEqual(
        EntityProgress.eta(p, now, EntityProgress.currentWait([wait], now)),
        480_000 + 10_000,
      )
      // Once its time has passed a wait is over.
      yield* TestClock.adjust("8 minutes")
      assert.isUndefined(EntityProgress.currentWait([wait], yield* Clock.currentTimeMillis))
    }),
  )

  it.effect("of several waits the one ending last is shown; the samples kept stay few", () =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const short = {
        what: "a retry of crm.item.batchImport (the portal answered 503 QUERY_LIMIT_EXCEEDED)",
        untilMs: now + 2_000,
      }
      const long = { what: "the portal's operating-time window: crm.item.batchImport", untilMs: now + 60_000 }
      assert.strictEqual(EntityProgress.currentWait([long, short], now), long)
      assert.strictEqual(EntityProgress.currentWait([short], now + 2_000), undefined)
      let p = EntityProgress.start(undefined, now)
      for (let i = 0; i < 1_000; i++) p = yield* after(p, 0.1, 1)
      // One per 250 ms or more over the 10 s window, the base before it and the newest: bounded, not 1,000.
      assert.isAtMost(p.samples.length, 10_000 / 250 + 20)
      assert.strictEqual(EntityProgress.rate(p, yield* Clock.currentTimeMillis), 10)
    }),
  )
})
