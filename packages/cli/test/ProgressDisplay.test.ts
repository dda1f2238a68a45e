import * as EntityProgress from "@b24etl/core/EntityProgress"
import * as Progress from "@b24etl/core/Progress"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref, TestClock } from "effect"
import * as ProgressDisplay from "../src/ProgressDisplay.js"

const collect = Effect.gen(function* () {
  const lines = yield* Ref.make<ReadonlyArray<string>>([])
  const progress = yield* ProgressDisplay.makeLines({
    write: (line) => Ref.update(lines, (ls) => [...ls, line]),
    interval: "5 seconds",
  })
  return { progress, lines: Ref.get(lines) }
})

/** `1970-01-01 00:00:05Z `: the stamp of a line at `seconds` of TestClock time. */
const at = (seconds: number) => `1970-01-01 00:00:${String(seconds).padStart(2, "0")}Z `

describe("ProgressDisplay.lines", () => {
  it.scoped(
    "prints a stamped line per running entity every 5 seconds: done of the total by outcome, the current rate, ETA",
    () =>
      Effect.gen(function* () {
        const { progress, lines } = yield* collect
        yield* progress.start("company", 1_000)
        yield* progress.advance("company", {
          read: 250,
          created: 150,
          updated: 10,
          unchanged: 30,
          failed: 10,
        })
        yield* TestClock.adjust("4 seconds")
        assert.deepStrictEqual(yield* lines, [])
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* lines, [
          `${at(5)}company: done 200/1,000 (20%) · created 150 · updated 10 · unchanged 30 · failed 10 · skipped 0 · read 250 · 40/s · ETA 20.0s`,
        ])
        yield* progress.advance("company", { read: 300, created: 300 })
        yield* TestClock.adjust("5 seconds")
        // 500 done in the last 10 s.
        assert.strictEqual(
          (yield* lines)[1],
          `${at(10)}company: done 500/1,000 (50%) · created 450 · updated 10 · unchanged 30 · failed 10 · skipped 0 · read 550 · 50/s · ETA 10.0s`,
        )
        // Nothing more for 10 s: the rate is the current one, not the average since the start
        // (25/s); the time left is reckoned from the rate the last records came at (100/s).
        yield* TestClock.adjust("10 seconds")
        assert.match((yield* lines)[3]!, / · read 550 · 0\/s · ETA 5\.0s$/)
      }),
  )

  it.scoped(
    "without a total there is no percentage and no ETA; an entity's end prints its summary once",
    () =>
      Effect.gen(function* () {
        const { progress, lines } = yield* collect
        yield* progress.start("deal", undefined)
        yield* progress.advance("deal", { read: 30, created: 28, skipped: 1, failed: 1 })
        yield* TestClock.adjust("5 seconds")
        yield* TestClock.adjust("1 second")
        yield* progress.finish("deal")
        yield* progress.note("deal: rate limited, waiting 2s")
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(yield* lines, [
          `${at(5)}deal: done 30 · created 28 · updated 0 · unchanged 0 · failed 1 · skipped 1 · read 30 · 6/s`,
          `${at(6)}deal: done in 6.0s · read 30 · created 28 · updated 0 · unchanged 0 · failed 1 · skipped 1`,
          `${at(6)}deal: rate limited, waiting 2s`,
        ])
      }),
  )

  it.scoped("several entities each get their line; finished ones are no longer repeated", () =>
    Effect.gen(function* () {
      const { progress, lines } = yield* collect
      yield* progress.start("company", 10)
      yield* progress.advance("company", { read: 10, unchanged: 10 })
      yield* progress.finish("company")
      yield* progress.start("contact", 0)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* lines, [
        `${at(0)}company: done in 0ms · read 10 · created 0 · updated 0 · unchanged 10 · failed 0 · skipped 0`,
        `${at(5)}contact: done 0/0 (100%) · created 0 · updated 0 · unchanged 0 · failed 0 · skipped 0 · read 0 · 0/s · ETA 0ms`,
      ])
    }),
  )

  it.scoped(
    "a wait the sink announces shows on the running entities' lines until it ends, and the ETA counts it",
    () =>
      Effect.gen(function* () {
        const { progress, lines } = yield* collect
        yield* progress.start("company", 2_000)
        yield* TestClock.adjust("10 seconds")
        yield* progress.advance("company", { read: 1_000, created: 1_000 })
        // As the sink does before it sleeps for the portal's operating-time window (9 minutes).
        const until = 10_000 + 540_000
        yield* Progress.waiting({
          what: "the portal's operating-time window: crm.item.batchImport",
          untilMs: until,
        }).pipe(Effect.provideService(Progress.Progress, progress))
        // Said at once, and not again for the same wait announced by another request.
        assert.strictEqual(
          (yield* lines)[2],
          `${at(10)}waiting for the portal's operating-time window: crm.item.batchImport until ${ProgressDisplay.clockTime(until)}, 9m 00s`,
        )
        yield* Progress.waiting({
          what: "the portal's operating-time window: crm.item.batchImport",
          untilMs: until,
        }).pipe(Effect.provideService(Progress.Progress, progress))
        assert.strictEqual((yield* lines).length, 3)
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(
          (yield* lines)[3],
          `${at(15)}company: done 1,000/2,000 (50%) · created 1,000 · updated 0 · unchanged 0 · failed 0 · skipped 0 · read 1,000 · 100/s · waiting for the portal's operating-time window: crm.item.batchImport until ${ProgressDisplay.clockTime(until)}, 8m 55s · ETA 9m 05s`,
        )
        // Past its end the wait is no longer shown.
        yield* TestClock.adjust("9 minutes")
        assert.notInclude((yield* lines).at(-1)!, "waiting")
      }),
  )
})

describe("Progress.add", () => {
  it("adds partial counters", () => {
    assert.deepStrictEqual(Progress.add(Progress.emptyCounters, { read: 2, failed: 1 }), {
      ...Progress.emptyCounters,
      read: 2,
      failed: 1,
    })
  })
})

describe("ProgressDisplay.barLine", () => {
  const state: ProgressDisplay.EntityState = EntityProgress.advance(
    EntityProgress.start(1_000, 0),
    { read: 480, created: 400, updated: 30, unchanged: 10, failed: 10 },
    5_000,
  )
  it("shows the bar and the count of records done, the outcomes, the current rate and ETA while running", () => {
    assert.strictEqual(
      ProgressDisplay.barLine("company", state, 5_000, false),
      "company  █████░░░░░░░  45% 450/1,000  created 400  updated 30  unchanged 10  failed 10  skipped 0  90/s  ETA 6.1s",
    )
  })
  it("shows a wait and counts it in the ETA", () => {
    assert.strictEqual(
      ProgressDisplay.barLine("company", state, 5_000, false, {
        what: "a retry of crm.item.batchImport (the portal answered 503 QUERY_LIMIT_EXCEEDED)",
        untilMs: 35_000,
      }),
      `company  █████░░░░░░░  45% 450/1,000  created 400  updated 30  unchanged 10  failed 10  skipped 0  90/s  waiting for a retry of crm.item.batchImport (the portal answered 503 QUERY_LIMIT_EXCEEDED) until ${ProgressDisplay.clockTime(35_000)}, 30.0s  ETA 36.1s`,
    )
  })
  it("shows what was done and how long it took once finished; no bar without a total", () => {
    assert.strictEqual(
      ProgressDisplay.barLine("deal", { ...state, total: undefined }, 16_700, true),
      "deal  done 450  created 400  updated 30  unchanged 10  failed 10  skipped 0  in 16.7s",
    )
  })
})
