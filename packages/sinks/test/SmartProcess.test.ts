/**
 * Smart processes and `parentId{N}` links through the runner, against the emulator over HTTP:
 * the entity order comes from the references (declared here out of order on purpose), every
 * parent link points at the right item, and a broken chain is dead-lettered with its reason.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Memory from "@b24etl/connectors/Memory"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import { ref } from "@b24etl/core/Reference"
import * as Runner from "@b24etl/core/Runner"
import { StateStore } from "@b24etl/core/StateStore"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterAll } from "vitest"
import * as Bitrix24 from "../src/Bitrix24.js"
import { fastRetry, portal } from "./support.js"

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-sinks-spa-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))
const StoreLayer = Layer.merge(StateStoreSql.layerEmbedded(stateDir), Progress.silent)

const PROJECTS = 1220
const MILESTONES = 1222

type Row = Readonly<Record<string, unknown>>
const accounts = Array.from({ length: 30 }, (_, i) => ({ id: i + 1, name: `Account ${i + 1}` }))
// Project 60 belongs to account 999, which the legacy system no longer has.
const projects = [
  ...Array.from({ length: 59 }, (_, i) => ({
    id: i + 1,
    name: `Project ${i + 1}`,
    account_id: (i % 30) + 1,
  })),
  { id: 60, name: "Project 60", account_id: 999 },
]
const milestones = Array.from({ length: 120 }, (_, i) => ({
  id: i + 1,
  name: `Milestone ${i + 1}`,
  project_id: (i % 60) + 1,
}))
const orders = Array.from({ length: 90 }, (_, i) => ({
  id: i + 1,
  title: `Order ${i + 1}`,
  project_id: (i % 60) + 1,
  account_id: ((i % 60) % 30) + 1,
}))

const legacy = Memory.source("erp", { accounts, projects, milestones, orders })

const pipeline = (sink: Pipeline.AnySink) =>
  Pipeline.make({
    name: "erp-projects",
    sink,
    entities: {
      // Declared before their parents: the runner orders entities by their references.
      milestone: Pipeline.entity({
        from: legacy.records<Row>("milestones", { key: "id" }),
        to: Bitrix24.spa(MILESTONES, "milestone"),
        references: ["project"],
        map: (m) => ({
          title: String(m.name),
          [`parentId${PROJECTS}`]: ref("project", m.project_id as number),
        }),
      }),
      deal: Pipeline.entity({
        from: legacy.records<Row>("orders", { key: "id" }),
        to: Bitrix24.deal,
        references: ["project", "company"],
        map: (o) => ({
          title: String(o.title),
          companyId: ref("company", o.account_id as number),
          [`parentId${PROJECTS}`]: ref("project", o.project_id as number),
        }),
      }),
      project: Pipeline.entity({
        from: legacy.records<Row>("projects", { key: "id" }),
        to: Bitrix24.spa(PROJECTS, "project"),
        references: ["company"],
        map: (p) => ({ title: String(p.name), parentId4: ref("company", p.account_id as number) }),
      }),
      company: Pipeline.entity({
        from: legacy.records<Row>("accounts", { key: "id" }),
        to: Bitrix24.company,
        map: (a) => ({ title: String(a.name) }),
      }),
    },
  })

type Item = Readonly<Record<string, unknown>> & { readonly id: number }

layer(StoreLayer, { timeout: 120_000, excludeTestServices: true })("smart processes", (it) => {
  it.scoped(
    "companies, then projects (parentId4), then deals and milestones (parentId1220), every link right; a broken chain is dead-lettered with its reason",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal({
          rateLimit: { burst: 0 },
          entityTypes: [
            { entityTypeId: PROJECTS, title: "Projects", parents: [4] },
            { entityTypeId: MILESTONES, title: "Milestones", parents: [PROJECTS] },
            { entityTypeId: 2, parents: [PROJECTS] },
          ],
        })
        const sink = Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), {
          rate: "unlimited",
          retry: fastRetry,
        })
        const planned = yield* Runner.plan(pipeline(sink))
        assert.deepStrictEqual(planned.order.slice(0, 2), ["company", "project"])
        assert.sameMembers(planned.order.slice(2), ["deal", "milestone"])
        assert.deepStrictEqual(planned.sink.problems, [])

        const report = yield* Runner.run(pipeline(sink))
        assert.strictEqual(report.status, "partial", report.error)

        const byOrigin = (items: ReadonlyArray<Item>, field: "originId" | "xmlId") =>
          new Map(items.map((i) => [String(i[field]).replace(/^erp-projects:/, ""), i]))
        const company = byOrigin((yield* emulator.items(4)) as ReadonlyArray<Item>, "originId")
        const project = byOrigin((yield* emulator.items(PROJECTS)) as ReadonlyArray<Item>, "xmlId")
        const milestone = byOrigin((yield* emulator.items(MILESTONES)) as ReadonlyArray<Item>, "xmlId")
        const deal = byOrigin((yield* emulator.items(2)) as ReadonlyArray<Item>, "originId")
        assert.strictEqual(company.size, 30)
        assert.strictEqual(project.size, 59)
        for (const p of projects.slice(0, 59))
          assert.strictEqual(
            project.get(`project:${p.id}`)!.parentId4,
            company.get(`company:${p.account_id}`)!.id,
          )
        // Milestones and orders of project 60 cannot be linked; all the others are.
        assert.strictEqual(milestone.size, 118)
        for (const m of milestones.filter((m) => m.project_id !== 60))
          assert.strictEqual(
            milestone.get(`milestone:${m.id}`)![`parentId${PROJECTS}`],
            project.get(`project:${m.project_id}`)!.id,
          )
        assert.strictEqual(deal.size, 89)
        for (const o of orders.filter((o) => o.project_id !== 60)) {
          const d = deal.get(`deal:${o.id}`)!
          assert.strictEqual(d[`parentId${PROJECTS}`], project.get(`project:${o.project_id}`)!.id)
          assert.strictEqual(d.companyId, company.get(`company:${o.account_id}`)!.id)
        }

        const letters = yield* Effect.flatMap(StateStore, (s) => s.deadLetters("erp-projects"))
        assert.deepStrictEqual(
          letters.map((l) => `${l.entity}:${l.sourceKey}`).sort(),
          ["deal:60", "milestone:120", "milestone:60", "project:60"].sort(),
        )
        const lost = letters.find((l) => l.entity === "project")!
        assert.include(lost.message, "parentId4 -> company 999: that record was never written")
        const child = letters.find((l) => l.entity === "milestone")!
        assert.include(
          child.message,
          "parentId1220 -> project 60: that record failed (stage reference, UNRESOLVED_REFERENCE",
        )
      }),
  )
})
