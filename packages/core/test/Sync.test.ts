/**
 * Keeping the target equal to the source once migrated: the run's pre-flight check of the mapped
 * fields, `--full` re-applying a changed mapping, and the `delete` policy for records the source
 * marks deleted. Against the in-memory sink and source, with an embedded state store.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterAll } from "vitest"
import * as Dropped from "../src/Dropped.js"
import * as Pipeline from "../src/Pipeline.js"
import * as Progress from "../src/Progress.js"
import { ref } from "../src/Reference.js"
import * as Runner from "../src/Runner.js"
import { StateStore } from "../src/StateStore.js"
import * as StateStoreSql from "../src/StateStoreSql.js"
import * as MemorySink from "./fixtures/MemorySink.js"
import * as MemorySource from "./fixtures/MemorySource.js"

interface Company {
  readonly id: number
  name: string
  updated: number
  deleted: boolean
}

interface Person {
  readonly id: number
  name: string
  company_id: number | null
  deleted: boolean
}

let pipelineNo = 0

/**
 * Companies (incremental: a cursor on `updated`) and their contacts (compared by hash). `title`
 * maps a company's name; a test changes the mapping through `mapping.suffix`.
 */
const setup = (options: { readonly deleted?: "delete" | "ignore"; readonly companyField?: string } = {}) => {
  const name = `test-sync-${++pipelineNo}`
  const data = {
    companies: Array.from(
      { length: 10 },
      (_, i): Company => ({ id: i + 1, name: `Company ${i + 1}`, updated: 100 + i, deleted: false }),
    ),
    people: Array.from(
      { length: 20 },
      (_, i): Person => ({ id: i + 1, name: `Person ${i + 1}`, company_id: (i % 10) + 1, deleted: false }),
    ),
  }
  const mapping = { suffix: (_: Company): string => "" }
  const source = MemorySource.make(
    "legacy",
    data as unknown as Record<string, Array<Record<string, unknown>>>,
  )
  const target = MemorySink.make()
  const policy = options.deleted
  const pipeline = Pipeline.make({
    name,
    sink: target.sink,
    entities: {
      company: {
        from: source.table("companies", { key: "id", cursor: "updated" }),
        to: target.target("company"),
        map: (r: Company) => ({ [options.companyField ?? "title"]: `${r.name}${mapping.suffix(r)}` }),
        ...(policy ? { deleted: { when: (r: Company) => r.deleted, policy } } : {}),
      },
      contact: {
        from: source.table("people", { key: "id" }),
        to: target.target("contact"),
        references: ["company"],
        map: (r: Person) => ({ name: r.name, companyId: ref("company", r.company_id) }),
        ...(policy ? { deleted: { when: (r: Person) => r.deleted, policy } } : {}),
      },
    },
  })
  return { data, target, pipeline, name, mapping }
}

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-sync-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))
const StoreLayer = Layer.merge(StateStoreSql.layerPglite(stateDir), Progress.silent)

layer(StoreLayer, { timeout: 120_000, excludeTestServices: true })("Sync", (it) => {
  it.effect("a mapped field the target does not know stops the run (and the dry run) before any write", () =>
    Effect.gen(function* () {
      const { target, pipeline, name } = setup({ companyField: "badTitle" })
      for (const dryRun of [false, true]) {
        const error = yield* Effect.flip(Runner.run(pipeline, { dryRun }))
        assert.strictEqual(error._tag, "RunError")
        if (error._tag !== "RunError") return
        assert.strictEqual(error.entity, "company")
        assert.include(error.message, "company.badTitle: unknown field badTitle")
        assert.include(error.message, "nothing was written")
      }
      assert.deepStrictEqual(target.state.calls, { create: 0, update: 0, find: 0, delete: 0 })
      const store = yield* StateStore
      assert.deepStrictEqual(yield* store.idMapCounts(name), [])
      // The run (not the dry run) is recorded as failed with its reason, for `status`; nothing else.
      const runs = yield* store.recentRuns(name, 5)
      assert.deepStrictEqual(
        runs.map((r) => r.status),
        ["failed"],
      )
      assert.include((runs[0]!.stats as { error: string }).error, "company.badTitle: unknown field badTitle")
    }),
  )

  it.effect("--full re-reads every record and updates exactly what a changed mapping changes", () =>
    Effect.gen(function* () {
      const { target, pipeline, mapping } = setup()
      const first = yield* Runner.run(pipeline)
      assert.strictEqual(first.status, "succeeded")
      mapping.suffix = (r) => (r.id <= 3 ? " Ltd" : "")

      // An incremental run reads nothing past the checkpoint: the new mapping is not applied.
      const incremental = yield* Runner.run(pipeline, { entities: ["company"] })
      assert.strictEqual(incremental.entities[0]!.read, 0)

      const planned = yield* Runner.plan(pipeline, { full: true })
      assert.deepStrictEqual(
        planned.entities.map((e) => [e.entity, e.changed]),
        [
          ["company", { updates: 3, creates: 0 }],
          ["contact", { updates: 0, creates: 0 }],
        ],
      )

      const createsBefore = target.state.calls.create
      const full = yield* Runner.run(pipeline, { full: true })
      assert.strictEqual(full.status, "succeeded")
      assert.deepStrictEqual(
        full.entities.map((e) => [e.entity, e.read, e.created, e.updated, e.unchanged]),
        [
          ["company", 10, 0, 3, 7],
          ["contact", 20, 0, 0, 20],
        ],
      )
      assert.strictEqual(target.state.calls.create, createsBefore)
      const titles = [...target.items("company").values()].map((c) => c.fields.title).sort()
      assert.includeMembers(titles, ["Company 1 Ltd", "Company 2 Ltd", "Company 3 Ltd", "Company 4"])
      assert.strictEqual(target.items("company").size, 10)

      const again = yield* Runner.plan(pipeline, { full: true })
      assert.deepStrictEqual(again.entities[0]!.changed, { updates: 0, creates: 0 })
    }),
  )

  it.effect(
    "delete policy: items deleted in the source are deleted in the target, children first; brought back, they are created again",
    () =>
      Effect.gen(function* () {
        const { data, target, pipeline, name } = setup({ deleted: "delete" })
        const store = yield* StateStore
        yield* Runner.run(pipeline)
        const oldCompany3 = [...target.items("company").values()].find((c) => c.originId === "company:3")!

        // Company 3 and its contacts 3 and 13 are deleted in the source; contact 4 alone too.
        data.companies[2]!.deleted = true
        data.companies[2]!.updated = 200
        for (const i of [2, 12, 3]) data.people[i]!.deleted = true

        const dry = yield* Runner.run(pipeline, { dryRun: true })
        assert.deepStrictEqual(
          dry.entities.map((e) => [e.entity, e.deleted]),
          [
            ["company", 1],
            ["contact", 3],
          ],
        )
        assert.strictEqual(target.state.calls.delete, 0, "a dry run deletes nothing")

        const report = yield* Runner.run(pipeline)
        assert.strictEqual(report.status, "succeeded")
        assert.deepStrictEqual(
          report.entities.map((e) => [e.entity, e.deleted, e.created, e.updated, e.failed]),
          [
            ["company", 1, 0, 0, 0],
            ["contact", 3, 0, 0, 0],
          ],
        )
        assert.deepStrictEqual(target.state.deletions, ["contact:13", "contact:3", "contact:4", "company:3"])
        assert.strictEqual(target.items("company").size, 9)
        assert.strictEqual(target.items("contact").size, 17)
        const rows = yield* store.lookup(name, "company", ["3"])
        assert.strictEqual(rows.get("3")!.status, "deleted")
        assert.deepStrictEqual(
          (yield* store.idMapCounts(name)).map((c) => [c.entity, c.status, c.count]),
          [
            ["company", "created", 9],
            ["company", "deleted", 1],
            ["contact", "created", 17],
            ["contact", "deleted", 3],
          ],
        )

        // Still deleted: nothing more to do.
        const again = yield* Runner.run(pipeline)
        assert.deepStrictEqual(
          again.entities.map((e) => [e.entity, e.deleted, e.created, e.updated]),
          [
            ["company", 0, 0, 0],
            ["contact", 0, 0, 0],
          ],
        )

        // Brought back: created again with a new id, its contacts linked to it.
        data.companies[2]!.deleted = false
        data.companies[2]!.updated = 300
        data.people[2]!.deleted = false
        data.people[12]!.deleted = false
        const back = yield* Runner.run(pipeline)
        assert.strictEqual(back.status, "succeeded")
        assert.deepStrictEqual(
          back.entities.map((e) => [e.entity, e.created, e.deleted]),
          [
            ["company", 1, 0],
            ["contact", 2, 0],
          ],
        )
        const company3 = [...target.items("company").values()].find((c) => c.originId === "company:3")!
        assert.notStrictEqual(company3.id, oldCompany3.id)
        const contact13 = [...target.items("contact").values()].find((c) => c.originId === "contact:13")!
        assert.strictEqual(contact13.fields.companyId, company3.id)
        assert.strictEqual((yield* store.lookup(name, "company", ["3"])).get("3")!.status, "created")
      }),
  )

  it.effect("a deletion an interrupted run left to do is done by the next run", () =>
    Effect.gen(function* () {
      const { data, target, pipeline, name } = setup({ deleted: "delete" })
      const store = yield* StateStore
      yield* Runner.run(pipeline)
      data.people[5]!.deleted = true
      // As a run that stopped after committing the chunk (and its checkpoint) leaves it.
      const rows = yield* store.lookup(name, "contact", ["6"])
      yield* store.commit({
        pipeline: name,
        entity: "contact",
        created: [],
        deleting: [{ sourceKey: "6", payloadHash: "deleted" }],
      })
      assert.strictEqual((yield* store.lookup(name, "contact", ["6"])).get("6")!.status, "deleting")
      const report = yield* Runner.run(pipeline, { entities: ["contact"] })
      assert.strictEqual(report.entities[0]!.deleted, 1)
      assert.isFalse(target.items("contact").has(rows.get("6")!.targetId!))
      assert.strictEqual((yield* store.lookup(name, "contact", ["6"])).get("6")!.status, "deleted")
    }),
  )

  it.effect("a sink that cannot delete refuses a delete policy before the run starts", () =>
    Effect.gen(function* () {
      const { target, pipeline } = setup({ deleted: "delete" })
      const { delete: _, ...withoutDelete } = yield* target.sink.connect({ originator: "x", dryRun: true })
      const sink = { ...target.sink, connect: () => Effect.succeed(withoutDelete) }
      const error = yield* Effect.flip(Runner.run({ ...pipeline, sink }))
      assert.strictEqual(error._tag, "RunError")
      assert.include(error.message, "needs a sink that can delete")
      assert.strictEqual(target.state.calls.create, 0)
    }).pipe(Effect.scoped),
  )

  it.effect(
    "the check before writing skips an entity whose sample maps no record (empty, or all deleted)",
    () =>
      Effect.gen(function* () {
        const { data, target, pipeline } = setup({ deleted: "delete" })
        data.people.splice(0)
        for (const c of data.companies) c.deleted = true
        const checked: Array<ReadonlyArray<string>> = []
        // A target that requires `title`: a sample without mapped records must not look like it lacks it.
        const sink = {
          ...target.sink,
          connect: (options: Parameters<typeof target.sink.connect>[0]) =>
            Effect.map(target.sink.connect(options), (conn) => ({
              ...conn,
              plan: (entities: Parameters<typeof conn.plan>[0]) => {
                checked.push(entities.map((e) => e.entity))
                return Effect.succeed({
                  problems: entities
                    .filter((e) => !e.fields.includes("title") && !e.fields.includes("name"))
                    .map((e) => ({ entity: e.entity, field: "title", message: "requires title" })),
                  notes: [],
                })
              },
            })),
        }
        const report = yield* Runner.run({ ...pipeline, sink })
        assert.strictEqual(report.status, "succeeded", report.error)
        assert.deepStrictEqual(checked, [], "nothing mapped, nothing to check")
      }),
  )

  it.effect("values a field helper dropped are counted as the entity's warnings and kept with the run", () =>
    Effect.gen(function* () {
      const source = MemorySource.make("legacy", {
        companies: [
          { id: 1, email: "a@x.de, n/a" },
          { id: 2, email: "b@x.de" },
        ],
      })
      const target = MemorySink.make()
      // As `Bitrix24.emails` does: the kept values, with the dropped ones attached.
      const emails = (text: string) => {
        const parts = text.split(", ")
        return Dropped.attach(
          parts.filter((p) => p.includes("@")),
          parts.filter((p) => !p.includes("@")).map((value) => ({ value, reason: "invalid" as const })),
        )
      }
      const pipeline = Pipeline.make({
        name: `test-sync-${++pipelineNo}`,
        sink: target.sink,
        entities: {
          company: {
            from: source.table("companies", { key: "id" }),
            to: target.target("company"),
            map: (r: { email: string }) => ({ EMAIL: emails(r.email) }),
          },
        },
      })
      const report = yield* Runner.run(pipeline)
      assert.strictEqual(report.status, "succeeded")
      assert.strictEqual(report.entities[0]!.warnings, 1)
      assert.deepStrictEqual(report.dropped, [
        { entity: "company", sourceKey: "1", field: "EMAIL", value: "n/a", reason: "invalid" },
      ])
      assert.deepStrictEqual(
        [...target.items("company").values()].map((c) => c.fields.EMAIL),
        [["a@x.de"], ["b@x.de"]],
      )
      const store = yield* StateStore
      const [last] = yield* store.recentRuns(pipeline.name, 1)
      assert.deepStrictEqual((last!.stats as { dropped: unknown }).dropped, report.dropped)

      // Unchanged on the next run: nothing is written, so nothing is dropped again.
      const again = yield* Runner.run(pipeline)
      assert.strictEqual(again.entities[0]!.warnings, 0)
      assert.isUndefined(again.dropped)
    }),
  )
})
