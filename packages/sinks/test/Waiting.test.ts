/**
 * The sink tells the run's progress when the portal makes it wait (`Progress.waiting`): a spent
 * operating-time budget, a 429 and the pause until the window moves, a back-off after a 503. Over
 * HTTP against the emulator with small budgets and windows, so the waits are seconds long.
 */
import * as Progress from "@b24etl/core/Progress"
import type * as Sink from "@b24etl/core/Sink"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Either, Ref } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import { connect, items, portal, webhookSink } from "./support.js"

/** A progress that keeps the waits announced, each with the time it was announced at. */
const collecting = Effect.gen(function* () {
  const waits = yield* Ref.make<ReadonlyArray<Progress.Waiting & { readonly at: number }>>([])
  const progress: Progress.Progress = {
    start: () => Effect.void,
    advance: () => Effect.void,
    finish: () => Effect.void,
    note: () => Effect.void,
    waiting: (wait) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => Ref.update(waits, (ws) => [...ws, { ...wait, at }])),
  }
  return { progress, waits: Ref.get(waits) }
})

const importFour = (conn: Sink.Connection<Bitrix24.Target>) =>
  Effect.forEach([0, 1, 2, 3], (b) =>
    conn.create(
      Bitrix24.company,
      items("company", 20, () => ({ title: "t" }), b * 20),
    ),
  )

describe("waiting for the portal", () => {
  it.scopedLive("a spent operating-time budget is announced with the method and the end of the wait", () =>
    Effect.gen(function* () {
      // Each import of 20 costs 1.005 s of a 2.5 s budget per 6 s window.
      const emulator = yield* portal({
        operatingTime: { budgetSeconds: 2.5, windowSeconds: 6, bucketSeconds: 2, costPerItemSeconds: 0.05 },
      })
      const conn = yield* connect(
        webhookSink(emulator, { operatingTime: { budgetSeconds: 2.5, marginSeconds: 1.1 } }),
      )
      const { progress, waits } = yield* collecting
      yield* importFour(conn).pipe(Effect.provideService(Progress.Progress, progress))
      const end = yield* Clock.currentTimeMillis
      const announced = yield* waits
      assert.isAtLeast(announced.length, 1)
      const first = announced[0]!
      assert.strictEqual(first.what, "the portal's operating-time window: crm.item.batchImport")
      // At least a second ahead when announced, and over before the imports ended.
      assert.isAtLeast(first.untilMs - first.at, 1_000)
      assert.isAtMost(first.untilMs, end)
      assert.strictEqual((yield* emulator.counters).status429, 0)
      assert.strictEqual((yield* emulator.items(4)).length, 80)
    }),
  )

  it.scopedLive("a 429 OPERATION_TIME_LIMIT: the pause until the portal's window moves is announced", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({
        operatingTime: { budgetSeconds: 2, windowSeconds: 6, bucketSeconds: 2, costPerItemSeconds: 0.05 },
      })
      // The sink believes in the cloud's 480 s budget, so only the portal's 429 stops it.
      const conn = yield* connect(webhookSink(emulator))
      const { progress, waits } = yield* collecting
      yield* importFour(conn).pipe(Effect.provideService(Progress.Progress, progress))
      assert.isAtLeast((yield* emulator.counters).status429, 1)
      const announced = yield* waits
      assert.isTrue(
        announced.some(
          (w) =>
            w.what === "the portal's operating-time window: crm.item.batchImport" &&
            w.untilMs - w.at >= 1_000,
        ),
        JSON.stringify(announced),
      )
      assert.strictEqual((yield* emulator.items(4)).length, 80)
    }),
  )

  it.scopedLive(
    "a back-off after a 503 is announced as a retry of the method, with what the portal answered",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal({ faults: { error503: 1 }, seed: 1 })
        // One retry 1.5 s later (jittered by ±20%): long enough to be shown.
        const conn = yield* connect(
          webhookSink(emulator, { retry: { base: "1500 millis", cap: "2 seconds", times: 1 } }),
        )
        const { progress, waits } = yield* collecting
        const result = yield* Effect.either(
          conn
            .create(
              Bitrix24.company,
              items("company", 20, () => ({ title: "t" })),
            )
            .pipe(Effect.provideService(Progress.Progress, progress)),
        )
        assert.isTrue(Either.isLeft(result))
        const announced = yield* waits
        assert.strictEqual(announced.length, 1, JSON.stringify(announced))
        // A create first asks for the type's fields: that is the call refused and retried.
        assert.match(
          announced[0]!.what,
          /^a retry of crm\.item\.\w+ \(the portal answered 503 QUERY_LIMIT_EXCEEDED\)$/,
        )
        assert.isAtLeast(announced[0]!.untilMs - announced[0]!.at, 1_000)
      }),
  )

  it.scopedLive(
    "without a progress in context (a sink used on its own) nothing is announced and nothing fails",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal({
          operatingTime: { budgetSeconds: 2.5, windowSeconds: 3, bucketSeconds: 1, costPerItemSeconds: 0.05 },
        })
        const conn = yield* connect(
          webhookSink(emulator, { operatingTime: { budgetSeconds: 2.5, marginSeconds: 1.1 } }),
        )
        yield* importFour(conn)
        assert.strictEqual((yield* emulator.items(4)).length, 80)
      }),
  )
})
