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

describe("ProgressDisplay.lines", () => {
  it.scoped(
    "prints a line per running entity every 5 seconds, with rate and ETA when the total is known",
    () =>
      Effect.gen(function* () {
        const { progress, lines } = yield* collect
        yield* progress.start("company", 1_000)
        yield* progress.advance("company", {
          read: 200,
          created: 150,
          updated: 10,
          unchanged: 30,
          failed: 10,
        })
        yield* TestClock.adjust("4 seconds")
        assert.deepStrictEqual(yield* lines, [])
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* lines, [
          "company: read 200/1,000 (20%) · written 160 · unchanged 30 · failed 10 · 40/s · ETA 20.0s",
        ])
        yield* progress.advance("company", { read: 300, created: 300 })
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(
          (yield* lines)[1],
          "company: read 500/1,000 (50%) · written 460 · unchanged 30 · failed 10 · 50/s · ETA 10.0s",
        )
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
          "deal: read 30 · written 28 · unchanged 0 · failed 1 · 6/s",
          "deal: done in 6.0s · read 30 · created 28 · updated 0 · unchanged 0 · skipped 1 · failed 1",
          "deal: rate limited, waiting 2s",
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
        "company: done in 0ms · read 10 · created 0 · updated 0 · unchanged 10 · skipped 0 · failed 0",
        "contact: read 0/0 (100%) · written 0 · unchanged 0 · failed 0 · 0/s",
      ])
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
  const state: ProgressDisplay.EntityState = {
    total: 1_000,
    counters: { ...Progress.emptyCounters, read: 450, created: 400, updated: 30, unchanged: 10, failed: 10 },
    startedAt: 0,
  }
  it("shows the bar, percentage, counters, rate and ETA while running", () => {
    assert.strictEqual(
      ProgressDisplay.barLine("company", state, 7_500, false),
      "company  █████░░░░░░░  45% 450/1,000  written 430  unchanged 10  failed 10  60/s  ETA 9.2s",
    )
  })
  it("shows what was done and how long it took once finished; no bar without a total", () => {
    assert.strictEqual(
      ProgressDisplay.barLine("deal", { ...state, total: undefined }, 16_700, true),
      "deal  read 450  created 400  updated 30  unchanged 10  failed 10  in 16.7s",
    )
  })
})
