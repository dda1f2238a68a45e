import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, TestClock } from "effect"
import { defaultToleranceMs, guard, isFuture } from "../src/internal/runner/cursorGuard.js"
import type { SourceRecord } from "../src/Source.js"

const now = Date.parse("2026-01-10T12:00:00Z")

const record = (key: string, cursor: unknown): SourceRecord => ({
  key,
  position: { cursor: cursor instanceof Date ? cursor.toISOString() : (cursor as string), key: [key] },
  cursor,
  data: {},
})

describe("isFuture", () => {
  it("compares dates and date texts with the limit, a text without a zone read as UTC", () => {
    assert.isTrue(isFuture(new Date("9999-12-31T00:00:00Z"), now))
    assert.isFalse(isFuture(new Date(now), now))
    assert.isTrue(isFuture(new Date(now + 1), now))
    assert.isTrue(isFuture("9999-12-31", now))
    assert.isTrue(isFuture("9999-12-31 23:59:59", now))
    assert.isFalse(isFuture("2026-01-10 12:00:00", now))
    assert.isTrue(isFuture("2026-01-10 12:00:01", now))
    assert.isFalse(isFuture("2026-01-10 13:00:00+02", now))
    assert.isTrue(isFuture("2026-01-10T13:00:00+00:30", now))
    assert.isTrue(isFuture("10000-01-01", now))
    assert.isFalse(isFuture("2026-01-10T12:00:00", now))
    assert.isTrue(isFuture("2026-01-10T12:00:00.001", now))
  })

  it("takes infinity as the future, and values without a time (counters) as never", () => {
    for (const v of ["infinity", "Infinity", "+infinity", Number.POSITIVE_INFINITY])
      assert.isTrue(isFuture(v, now))
    for (const v of ["-infinity", 10 ** 15, 42n, null, undefined, "abc", { at: 1 }])
      assert.isFalse(isFuture(v, now))
  })
})

describe("guard", () => {
  it("answers the last position before the first future record, then holds the checkpoint", () => {
    const g = guard(now)
    const past = (i: number) => record(String(i), new Date(now - 1000 * (10 - i)))
    assert.deepStrictEqual(g.chunk([past(1), past(2)]), past(2).position)
    assert.deepStrictEqual(g.chunk([past(3), record("9", "infinity"), past(4)]), past(3).position)
    // Once a future record is met, later ones (a source may give them its greatest position) never move it.
    assert.isUndefined(g.chunk([past(5)]))
    assert.deepStrictEqual(g.future(), { count: 1, keys: ["9"] })
  })

  it("names the first 20 keys and counts the others", () => {
    const g = guard(now)
    g.chunk(Array.from({ length: 25 }, (_, i) => record(String(i), "9999-12-31")))
    const future = g.future()
    assert.strictEqual(future.count, 25)
    assert.strictEqual(future.keys.length, 20)
  })

  it.effect("the limit is the run's start on the clock plus the tolerance", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(now)
      const limit = (yield* Clock.currentTimeMillis) + defaultToleranceMs
      const g = guard(limit)
      const soon = record("1", new Date(now + defaultToleranceMs - 1))
      const later = record("2", new Date(now + defaultToleranceMs + 1))
      assert.deepStrictEqual(g.chunk([soon, later]), soon.position)
      assert.deepStrictEqual(g.future().keys, ["2"])
    }),
  )
})
