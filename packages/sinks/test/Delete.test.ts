/**
 * `delete` against the emulator over HTTP: `crm.item.delete` in batches of 50 commands, results
 * index-aligned, an item already gone counted as deleted, and a dry run that sends nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import { batchesWith, connect, ids, items, portal, webhookSink } from "./support.js"

describe("delete", () => {
  it.scopedLive("deletes 60 companies in 2 batches; an item already gone counts as deleted", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      const created = ids(
        yield* conn.create(
          Bitrix24.company,
          items("company", 62, (i) => ({ title: `C${i}` })),
        ),
      )
      const deletions = created.slice(0, 60).map((targetId, i) => ({ sourceKey: String(i), targetId }))
      // Deleted once already (an earlier run that lost its answer): the portal answers NOT_FOUND.
      yield* conn.delete!(Bitrix24.company, deletions.slice(0, 1))
      const results = yield* conn.delete!(Bitrix24.company, [
        ...deletions,
        { sourceKey: "x", targetId: "999999" },
      ])
      assert.deepStrictEqual(
        results.map((r) => (r._tag === "Written" ? r.targetId : r.code)),
        [...created.slice(0, 60), "999999"],
      )
      const counters = yield* emulator.counters
      assert.strictEqual(yield* batchesWith(emulator, "crm.item.delete"), 3)
      assert.strictEqual(counters.byCommand["crm.item.delete"], 62)
      const left = (yield* emulator.items(4)).map((s) => String(s.id))
      assert.deepStrictEqual(left, created.slice(60))
    }),
  )

  it.scopedLive("a dry run answers each id without deleting", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const real = yield* connect(webhookSink(emulator))
      const created = ids(
        yield* real.create(
          Bitrix24.deal,
          items("deal", 2, (i) => ({ title: `D${i}` })),
        ),
      )
      const dry = yield* connect(webhookSink(emulator), { dryRun: true })
      const results = yield* dry.delete!(
        Bitrix24.deal,
        created.map((targetId, i) => ({ sourceKey: String(i), targetId })),
      )
      assert.deepStrictEqual(ids(results), created)
      assert.strictEqual((yield* emulator.items(2)).length, 2)
      assert.strictEqual((yield* emulator.counters).byMethod.batch ?? 0, 0)
    }),
  )
})
