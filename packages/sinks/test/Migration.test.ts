/**
 * Whole migrations through the core runner into the emulator over HTTP: entity order and links,
 * faults without duplicates, dead letters and the exit code, and a rerun that writes nothing.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import * as Progress from "@b24etl/core/Progress"
import * as Report from "@b24etl/core/Report"
import * as Runner from "@b24etl/core/Runner"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterAll } from "vitest"
import * as Bitrix24 from "../src/Bitrix24.js"
import * as Legacy from "./fixtures/legacy.js"
import { fastRetry, methodCount, portal } from "./support.js"

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-sinks-migration-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))
const StoreLayer = Layer.merge(StateStoreSql.layerEmbedded(stateDir), Progress.silent)

type Item = Record<string, unknown> & { readonly id: number }

/** Every item of a type once per originId, and the map originId -> id. */
const byOrigin = (items: ReadonlyArray<Item>) => {
  const map = new Map<string, number>()
  for (const item of items) {
    const origin = String(item.originId)
    assert.isFalse(map.has(origin), `duplicate item for ${origin}`)
    map.set(origin, item.id)
  }
  return map
}

/** Checks the portal holds exactly the legacy data, linked as in the legacy system. */
const assertMigrated = (emulator: Emulator.Service, sizes: Legacy.Sizes, originator: string) =>
  Effect.gen(function* () {
    const legacy = Legacy.data(sizes)
    const companies = (yield* emulator.items(4)) as ReadonlyArray<Item>
    const contacts = (yield* emulator.items(3)) as ReadonlyArray<Item>
    const deals = (yield* emulator.items(2)) as ReadonlyArray<Item>
    const company = byOrigin(companies)
    const contact = byOrigin(contacts)
    const deal = byOrigin(deals)
    assert.strictEqual(company.size, sizes.companies)
    assert.strictEqual(contact.size, sizes.contacts)
    assert.strictEqual(deal.size, sizes.deals)
    for (const item of [...companies, ...contacts, ...deals])
      assert.strictEqual(item.originatorId, originator)
    const contactsById = new Map(contacts.map((c) => [c.id, c]))
    for (const p of legacy.people) {
      const c = contactsById.get(contact.get(`contact:${p.id}`)!)!
      assert.strictEqual(c.companyId, company.get(`company:${p.company_id}`))
      assert.strictEqual(c.lastName, p.last_name)
    }
    const dealsById = new Map(deals.map((d) => [d.id, d]))
    for (const o of legacy.opportunities) {
      const d = dealsById.get(deal.get(`deal:${o.id}`)!)!
      assert.strictEqual(d.companyId, company.get(`company:${o.account_id}`))
      assert.deepStrictEqual(
        d.contactIds,
        o.contact_ids.map((id) => contact.get(`contact:${id}`)),
      )
    }
  })

layer(StoreLayer, { timeout: 300_000, excludeTestServices: true })("migration", (it) => {
  it.scoped(
    "1,000 companies, 3,000 contacts and 2,000 deals in order, linked by id; a rerun writes nothing",
    () =>
      Effect.gen(function* () {
        const sizes = { companies: 1000, contacts: 3000, deals: 2000 }
        const emulator = yield* portal({ rateLimit: { burst: 0 }, latencyMs: 5 })
        const sink = Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), {
          rate: "unlimited",
          retry: fastRetry,
        })
        const pipeline = Legacy.pipeline("migrate-full", sink, sizes)
        const report = yield* Runner.run(pipeline)
        assert.strictEqual(report.status, "succeeded", report.error)
        assert.strictEqual(Report.exitCode(report), 0)
        assert.deepStrictEqual(
          report.entities.map((e) => [e.entity, e.created, e.failed]),
          [
            ["company", 1000, 0],
            ["contact", 3000, 0],
            ["deal", 2000, 0],
          ],
        )
        yield* assertMigrated(emulator, sizes, "migrate-full")
        // Packed: 300 crm.item.batchImport commands (and the probe's) in a request per chunk of 500.
        const imports = (yield* emulator.requestLog).filter(
          (e) => e.method === "batch" && e.commands?.includes("crm.item.batchImport") === true,
        )
        assert.strictEqual(
          imports.reduce((n, e) => n + e.commands!.length, 0),
          1 + 50 + 150 + 100,
        )
        // The first requests carry 5 commands, until an answer has told the cost per item.
        assert.isAtMost(imports.length, 1 + 12 + 4)
        // Asked ahead, before the first import: the adoption check of every entity (its id map is
        // empty) and the packing probe, so no entity waits a round trip of its own for them.
        const log = yield* emulator.requestLog
        const firstImport = log.findIndex(
          (e) =>
            e.method === "batch" &&
            (e.commands?.length ?? 0) > 1 &&
            e.commands![0] === "crm.item.batchImport",
        )
        assert.strictEqual(log.filter((e) => e.method === "crm.item.list").length, 3)
        assert.isTrue(
          log.slice(0, firstImport).filter((e) => e.method === "crm.item.list").length === 3 &&
            log.slice(0, firstImport).some((e) => e.method === "batch" && e.commands?.length === 1),
          "the adoption checks and the probe come before the first import",
        )
        assert.strictEqual(yield* methodCount(emulator, "crm.item.batchImport"), 0)
        // Companies strictly before contacts, contacts before deals (the portal checks links too).
        const lastCompany = (yield* emulator.items(4)).reduce(
          (m, i) => Math.max(m, Date.parse(String(i.createdTime))),
          0,
        )
        const firstDeal = (yield* emulator.items(2)).reduce(
          (m, i) => Math.min(m, Date.parse(String(i.createdTime))),
          Number.POSITIVE_INFINITY,
        )
        assert.isAtMost(lastCompany, firstDeal)

        const rerun = yield* Runner.run(pipeline)
        assert.strictEqual(rerun.status, "succeeded")
        assert.strictEqual(
          (yield* emulator.requestLog).filter((e) => e.commands?.includes("crm.item.batchImport") === true)
            .length,
          imports.length,
        )
        assert.deepStrictEqual(
          rerun.entities.map((e) => e.unchanged),
          [1000, 3000, 2000],
        )
      }),
    300_000,
  )

  it.scoped(
    "500s, 503s and connection resets before and after commit: everything once, nothing twice",
    () =>
      Effect.gen(function* () {
        const sizes = { companies: 200, contacts: 600, deals: 400 }
        const emulator = yield* portal({
          rateLimit: { burst: 0 },
          faults: { error500: 0.06, error503: 0.06, resetBeforeCommit: 0.06, resetAfterCommit: 0.06 },
          seed: 7,
        })
        const sink = Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), {
          rate: "unlimited",
          retry: fastRetry,
        })
        const pipeline = Legacy.pipeline("migrate-faults", sink, sizes)
        // Chunks of 40: packed requests of 2 commands, enough of them for every kind of fault.
        let report = yield* Runner.run(pipeline, { chunkSize: 40 })
        // A run may give up on a batch after many faults in a row; the next run finishes the job.
        for (let i = 0; i < 3 && report.status !== "succeeded"; i++)
          report = yield* Runner.run(pipeline, { chunkSize: 40 })
        assert.strictEqual(report.status, "succeeded", report.error)
        const counters = yield* emulator.counters
        assert.isAtLeast(counters.faults.resetAfterCommit, 1)
        assert.isAtLeast(counters.faults.resetBeforeCommit, 1)
        assert.isAtLeast(counters.faults.error500, 1)
        assert.isAtLeast(counters.faults.error503, 1)
        // The faults hit packed requests (a reset after commit of one leaves two commands' items to find):
        // every import went inside a batch.
        assert.strictEqual(counters.byMethod["crm.item.batchImport"] ?? 0, 0)
        assert.isAtLeast(counters.byCommand["crm.item.batchImport"] ?? 0, 60)
        yield* assertMigrated(emulator, sizes, "migrate-faults")
      }),
    300_000,
  )

  it.scoped("records the portal rejects go to the dead letters, their dependants too; exit code 2", () =>
    Effect.gen(function* () {
      const sizes = { companies: 20, contacts: 100, deals: 50, noLastNameEvery: 10 }
      const emulator = yield* portal({
        rateLimit: { burst: 0 },
        entityTypes: [{ entityTypeId: 3, required: ["lastName"] }],
      })
      const sink = Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), {
        rate: "unlimited",
        retry: fastRetry,
      })
      const report = yield* Runner.run(Legacy.pipeline("migrate-dead", sink, sizes))
      assert.strictEqual(report.status, "partial")
      assert.strictEqual(Report.exitCode(report), 2)
      const legacy = Legacy.data(sizes)
      const rejected = new Set(legacy.people.filter((p) => p.last_name === null).map((p) => p.id))
      const blockedDeals = legacy.opportunities.filter((o) =>
        o.contact_ids.some((id) => rejected.has(id)),
      ).length
      assert.deepStrictEqual(
        report.entities.map((e) => [e.entity, e.created, e.failed]),
        [
          ["company", 20, 0],
          ["contact", 90, 10],
          ["deal", 50 - blockedDeals, blockedDeals],
        ],
      )
      assert.strictEqual(report.deadLetters, 10 + blockedDeals)
      assert.strictEqual((yield* emulator.items(3)).length, 90)
    }),
  )
})
