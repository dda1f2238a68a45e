/**
 * Imported history: Bitrix24 keeps an imported `createdTime` only in ascending order per CRM
 * type. The runner's `inOrder` entities, the sink's own check, and the plan's warning, against
 * the emulator over HTTP (which refuses out-of-order imports as the portal does).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Memory from "@b24etl/connectors/Memory"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import * as Runner from "@b24etl/core/Runner"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterAll } from "vitest"
import * as Bitrix24 from "../src/Bitrix24.js"
import * as History from "../src/internal/history.js"
import { connect, fastRetry, items, portal, webhookSink } from "./support.js"

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-sinks-history-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))
const StoreLayer = Layer.merge(StateStoreSql.layerEmbedded(stateDir), Progress.silent)

type Account = {
  readonly id: number
  readonly name: string
  readonly created_at: Date
}

/** `n` accounts whose ids are not in creation order: account i was created at a shuffled time. */
const accounts = (n: number): ReadonlyArray<Account> => {
  const start = Date.UTC(2015, 0, 1)
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    name: `Account ${i + 1}`,
    // 7919 is prime, so i -> i * 7919 mod n visits every slot once: a fixed shuffle.
    created_at: new Date(start + ((i * 7919) % n) * 3_600_000),
  }))
}

const historyPipeline = (
  name: string,
  sink: Pipeline.AnySink,
  rows: ReadonlyArray<Account>,
  inOrder: boolean,
) =>
  Pipeline.make({
    name,
    sink,
    entities: {
      company: Pipeline.entity({
        // Read in creation order: the cursor orders the stream by created_at, then id.
        from: Memory.source("legacy", { accounts: rows }).records<Account>("accounts", {
          key: "id",
          cursor: "created_at",
        }),
        to: Bitrix24.company,
        inOrder,
        map: (a) => ({ title: a.name, createdTime: Bitrix24.dateTime(a.created_at) }),
      }),
    },
  })

layer(StoreLayer, { timeout: 120_000, excludeTestServices: true })("history", (it) => {
  it.scoped(
    "an inOrder entity keeps every createdTime through retries, with 4 batches allowed in flight and a portal that refuses disorder",
    () =>
      Effect.gen(function* () {
        // 503s and lost answers make batches retry: with several in flight, a retried batch
        // would land after later ones and the portal would refuse it.
        const emulator = yield* portal({
          rateLimit: { burst: 0 },
          latencyMs: 5,
          faults: { error503: 0.2, resetAfterCommit: 0.05 },
          seed: 11,
        })
        const sink = Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), {
          rate: "unlimited",
          concurrency: 4,
          retry: fastRetry,
        })
        const rows = accounts(300)
        const report = yield* Runner.run(historyPipeline("history-in-order", sink, rows, true))
        assert.strictEqual(report.status, "succeeded", report.error)
        const stored = yield* emulator.items(4)
        assert.strictEqual(stored.length, 300)
        const byOrigin = new Map(stored.map((s) => [String(s.originId), s]))
        for (const a of rows)
          assert.strictEqual(
            Date.parse(String(byOrigin.get(`company:${a.id}`)!.createdTime)),
            a.created_at.getTime(),
            `account ${a.id}`,
          )
        assert.strictEqual(report.entities[0]!.failed, 0)
      }),
  )

  it.scoped("plan: mapping createdTime without inOrder is a problem that says what to do", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ rateLimit: { burst: 0 } })
      const sink = Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), { rate: "unlimited" })
      const unordered = yield* Runner.plan(historyPipeline("history-plan", sink, accounts(30), false))
      const problem = unordered.sink.problems.find((p) => p.field === "createdTime")
      assert.isDefined(problem)
      assert.include(problem!.message, "set inOrder: true")
      assert.include(problem!.message, 'cursor: "created_at"')
      const ordered = yield* Runner.plan(historyPipeline("history-plan", sink, accounts(30), true))
      assert.deepStrictEqual(ordered.sink.problems, [])
    }),
  )
})

describe("history in the sink", () => {
  it.scopedLive("an item created before one already sent is refused before sending, naming both times", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ rateLimit: { burst: 0 } })
      const conn = yield* connect(webhookSink(emulator, { rate: "unlimited" }))
      const at = (day: number) => `2020-01-${String(day).padStart(2, "0")}T00:00:00+00:00`
      const days = [1, 3, 2, 4]
      const results = yield* conn.create(
        Bitrix24.company,
        items("company", 4, (i) => ({ title: `C${i}`, createdTime: at(days[i]!) })),
      )
      assert.deepStrictEqual(
        results.map((r) => r._tag),
        ["Written", "Written", "Rejected", "Written"],
      )
      const refused = results[2]!
      assert.strictEqual(refused._tag === "Rejected" && refused.code, "CREATED_TIME_ORDER")
      assert.include(refused._tag === "Rejected" ? refused.message : "", `${at(2)} is earlier than ${at(3)}`)
      // Only the three in order reached the portal.
      assert.strictEqual((yield* emulator.items(4)).length, 3)

      // A new connection does not know what the portal imported: the portal refuses, and the
      // sink adds the reason its bare "invalid value" leaves out.
      const fresh = yield* connect(webhookSink(emulator, { rate: "unlimited" }))
      const [late] = yield* fresh.create(
        Bitrix24.company,
        items("company", 1, () => ({ title: "Late", createdTime: at(2) }), 10),
      )
      assert.strictEqual(late!._tag, "Rejected")
      assert.include(late!._tag === "Rejected" ? late!.message : "", "earlier than one it imported before")
    }),
  )

  it("updates leave out the fields only an import sets", () => {
    const mapped = { title: "Acme", createdTime: "2020-01-01T00:00:00+00:00", createdBy: 7, opened: "Y" }
    assert.deepStrictEqual(History.withoutHistory(mapped), { title: "Acme", opened: "Y" })
    const plain = { title: "Acme" }
    assert.strictEqual(History.withoutHistory(plain), plain)
  })
})
