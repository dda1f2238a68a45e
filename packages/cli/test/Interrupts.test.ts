import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as Interrupts from "../src/Interrupts.js"

describe("Interrupts", () => {
  it.effect("signals within a second of the first are the same press; a later one quits", () =>
    Effect.gen(function* () {
      const interrupts = yield* Interrupts.make()
      assert.strictEqual(yield* interrupts.signal, "stop")
      // pnpm and tsx forward the terminal's SIGINT a few milliseconds later.
      yield* TestClock.adjust("30 millis")
      assert.strictEqual(yield* interrupts.signal, "same")
      yield* TestClock.adjust("60 millis")
      assert.strictEqual(yield* interrupts.signal, "same")
      yield* TestClock.adjust("910 millis")
      assert.strictEqual(
        yield* interrupts.signal,
        "same",
        "exactly a second after the first is still the same",
      )
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* interrupts.signal, "quit")
    }),
  )

  it.effect("the window counts from the press's first signal, so pressing again and again quits", () =>
    Effect.gen(function* () {
      const interrupts = yield* Interrupts.make(1_000)
      assert.strictEqual(yield* interrupts.signal, "stop")
      yield* TestClock.adjust("600 millis")
      assert.strictEqual(yield* interrupts.signal, "same")
      yield* TestClock.adjust("600 millis")
      assert.strictEqual(yield* interrupts.signal, "quit")
    }),
  )

  it.effect("a second press after a long time quits", () =>
    Effect.gen(function* () {
      const interrupts = yield* Interrupts.make()
      assert.strictEqual(yield* interrupts.signal, "stop")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* interrupts.signal, "quit")
      assert.strictEqual(yield* interrupts.signal, "quit")
    }),
  )
})
