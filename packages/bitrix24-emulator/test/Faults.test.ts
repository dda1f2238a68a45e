/**
 * Injected faults: seeded and reproducible, resets before and after the items are created,
 * switchable at runtime, counted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Emulator from "../src/Emulator.js"
import * as Faults from "../src/Faults.js"
import { post, postOrReset } from "./support.js"

const importOne = (emulator: Emulator.Service, i: number) =>
  postOrReset(`${emulator.webhookUrl}crm.item.batchImport`, {
    entityTypeId: 4,
    data: [{ title: `c${i}`, originatorId: "legacy", originId: `c:${i}` }],
  })

/** What a client sees of each request: a status, or "reset". */
const outcomes = (emulator: Emulator.Service, n: number) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => i),
    (i) => Effect.map(importOne(emulator, i), (r) => (Either.isLeft(r) ? "reset" : r.right.status)),
  )

const mixed: Faults.FaultConfig = {
  error500: 0.1,
  error503: 0.1,
  resetBeforeCommit: 0.1,
  resetAfterCommit: 0.1,
}

describe("Faults", () => {
  it("parses the command line form", () => {
    assert.deepStrictEqual(Faults.parse("500=0.01,503=0.02,resetBefore=0.03,resetAfter=0.04"), {
      error500: 0.01,
      error503: 0.02,
      resetBeforeCommit: 0.03,
      resetAfterCommit: 0.04,
    })
    assert.isTrue("error" in Faults.parse("teapot=0.1"))
    assert.isTrue("error" in Faults.parse("500=2"))
  })

  it("the same seed gives the same sequence; resets never hit reads", () => {
    const a = new Faults.Injector(mixed, 42)
    const b = new Faults.Injector(mixed, 42)
    const drawsA = Array.from({ length: 200 }, () => a.draw(true))
    const drawsB = Array.from({ length: 200 }, () => b.draw(true))
    assert.deepStrictEqual(drawsA, drawsB)
    for (const kind of Faults.kinds) assert.isTrue(drawsA.includes(kind), kind)
    const reads = new Faults.Injector(mixed, 42)
    const readDraws = Array.from({ length: 200 }, () => reads.draw(false))
    assert.isFalse(readDraws.includes("resetBeforeCommit"))
    assert.isFalse(readDraws.includes("resetAfterCommit"))
  })

  it.scoped("over HTTP: reproducible by seed, and a reset after commit leaves the items created", () =>
    Effect.gen(function* () {
      const first = yield* Emulator.make({ rateLimit: { burst: 0 }, faults: mixed, seed: 7 })
      const second = yield* Emulator.make({ rateLimit: { burst: 0 }, faults: mixed, seed: 7 })
      const a = yield* outcomes(first, 60)
      const b = yield* outcomes(second, 60)
      assert.deepStrictEqual(a, b)
      assert.isTrue(a.includes("reset"))
      assert.isTrue(a.includes(500))
      assert.isTrue(a.includes(503))
      assert.isTrue(a.includes(200))

      const counters = yield* first.counters
      const log = yield* first.requestLog
      const before = log.filter((e) => e.fault === "resetBeforeCommit").length
      const after = log.filter((e) => e.fault === "resetAfterCommit").length
      assert.strictEqual(counters.faults.resetBeforeCommit, before)
      assert.strictEqual(counters.faults.resetAfterCommit, after)
      assert.strictEqual(before + after, a.filter((x) => x === "reset").length)
      // Items exist for the 200s and for the resets after commit: the duplicates a blind retry would make.
      assert.strictEqual(first.store.count(4), a.filter((x) => x === 200).length + after)
      assert.strictEqual(counters.createdByType[4], first.store.count(4))
      // A client recovers them by originId.
      const resetAfterIds = log
        .map((e, i) => ({ e, i }))
        .filter(({ e }) => e.fault === "resetAfterCommit")
        .map(({ i }) => `c:${i}`)
      const found = yield* post(`${first.webhookUrl}crm.item.list`, {
        entityTypeId: 4,
        filter: { "=originatorId": "legacy", "@originId": resetAfterIds },
        select: ["id", "originId"],
      })
      assert.deepStrictEqual(
        found.body.result.items.map((i: { originId: string }) => i.originId),
        resetAfterIds,
      )
    }),
  )

  it.scoped("faults switch on and off at runtime; reset replays the seed", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.make({ rateLimit: { burst: 0 }, seed: 3 })
      assert.deepStrictEqual(yield* outcomes(emulator, 5), [200, 200, 200, 200, 200])
      yield* emulator.setFaults({ resetBeforeCommit: 1 })
      assert.deepStrictEqual(yield* outcomes(emulator, 3), ["reset", "reset", "reset"])
      assert.strictEqual(emulator.store.count(4), 5)
      // Reads are not reset.
      const list = yield* post(`${emulator.webhookUrl}crm.item.list`, { entityTypeId: 4 })
      assert.strictEqual(list.status, 200)
      yield* emulator.setFaults({ error500: 1 })
      const failed = yield* post(`${emulator.webhookUrl}crm.item.list`, { entityTypeId: 4 })
      assert.strictEqual(failed.status, 500)
      assert.strictEqual(failed.body.error, "INTERNAL_SERVER_ERROR")
      yield* emulator.setFaults({ error503: 1 })
      assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 503)
      yield* emulator.setFaults({})
      assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 200)
      const counters = yield* emulator.counters
      assert.strictEqual(counters.faults.resetBeforeCommit, 3)
      assert.strictEqual(counters.faults.error500, 1)
      assert.strictEqual(counters.faults.error503, 1)
      assert.strictEqual(counters.status503, 1)
      assert.strictEqual(counters.rateLimited, 0)

      yield* emulator.setFaults(mixed)
      yield* emulator.reset
      const run1 = yield* outcomes(emulator, 30)
      yield* emulator.reset
      const run2 = yield* outcomes(emulator, 30)
      assert.deepStrictEqual(run1, run2)
      assert.strictEqual((yield* emulator.counters).requests, 30)
    }),
  )
})
