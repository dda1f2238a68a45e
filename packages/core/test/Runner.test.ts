import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, layer, it as plainIt } from "@effect/vitest"
import { Deferred, Effect, Layer, Option, Schema } from "effect"
import { afterAll } from "vitest"
import * as Pipeline from "../src/Pipeline.js"
import * as Progress from "../src/Progress.js"
import { ref } from "../src/Reference.js"
import * as Report from "../src/Report.js"
import * as Runner from "../src/Runner.js"
import { StateStore } from "../src/StateStore.js"
import * as StateStoreSql from "../src/StateStoreSql.js"
import * as Step from "../src/Step.js"
import * as MemorySink from "./fixtures/MemorySink.js"
import * as MemorySource from "./fixtures/MemorySource.js"

const legacy = () => ({
  companies: Array.from({ length: 10 }, (_, i) => ({
    id: i + 1,
    name: `Company ${i + 1}`,
    updated: 100 + i,
  })),
  people: Array.from({ length: 25 }, (_, i) => ({
    id: i + 1,
    name: `Person ${i + 1}`,
    company_id: (i % 10) + 1,
  })),
  deals: Array.from({ length: 12 }, (_, i) => ({
    id: i + 1,
    title: `Deal ${i + 1}`,
    company_id: (i % 10) + 1,
    person_id: i + 1,
  })),
})

let pipelineNo = 0
const setup = () => {
  const name = `test-migrate-${++pipelineNo}`
  const data = legacy()
  const source = MemorySource.make("legacy", data)
  const target = MemorySink.make()
  const pipeline = Pipeline.make({
    name,
    sink: target.sink,
    entities: {
      company: {
        from: source.table("companies", { key: "id", cursor: "updated" }),
        to: target.target("company"),
        map: (r: { name: string }) => ({ title: r.name }),
      },
      contact: {
        from: source.table("people", { key: "id" }),
        to: target.target("contact"),
        references: ["company"],
        map: (r: { name: string; company_id: number | null }) => ({
          name: r.name,
          companyId: ref("company", r.company_id),
        }),
      },
      deal: {
        from: source.table("deals", { key: "id" }),
        to: target.target("deal"),
        references: ["company", "contact"],
        map: (r: { title: string; company_id: number; person_id: number }) => ({
          title: r.title,
          companyId: ref("company", r.company_id),
          contactIds: [ref("contact", r.person_id)],
        }),
      },
    },
  })
  return { data, target, pipeline, name }
}

/** One embedded state store for the file (the default, SQLite); every test has its own pipeline name. */
const stateDir = mkdtempSync(join(tmpdir(), "b24etl-runner-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))
const StoreLayer = Layer.merge(StateStoreSql.layerEmbedded(stateDir), Progress.silent)
const withStore = <A, E>(effect: Effect.Effect<A, E, StateStore | Progress.Progress>) => effect

layer(StoreLayer, { timeout: 120_000, excludeTestServices: true })("Runner", (it) => {
  it.effect("writes entities in reference order, links by id, and a second run writes nothing", () =>
    withStore(
      Effect.gen(function* () {
        const { target, pipeline, name } = setup()
        const first = yield* Runner.run(pipeline)
        assert.strictEqual(first.status, "succeeded")
        assert.deepStrictEqual(
          first.entities.map((e) => [e.entity, e.created]),
          [
            ["company", 10],
            ["contact", 25],
            ["deal", 12],
          ],
        )
        assert.isTrue(target.state.createSizes.every((n) => n <= 3))
        const companies = target.items("company")
        for (const contact of target.items("contact").values()) {
          const company = companies.get(String(contact.fields.companyId))
          assert.isDefined(company, `contact ${contact.originId} links to an existing company`)
        }
        const deal1 = [...target.items("deal").values()].find((d) => d.originId === "deal:1")!
        assert.strictEqual(companies.get(String(deal1.fields.companyId))!.originId, "company:1")
        const contact1 = target.items("contact").get(String((deal1.fields.contactIds as Array<string>)[0]))!
        assert.strictEqual(contact1.originId, "contact:1")

        const callsBefore = target.state.calls.create
        const second = yield* Runner.run(pipeline)
        assert.strictEqual(second.status, "succeeded")
        assert.strictEqual(target.state.calls.create, callsBefore)
        assert.deepStrictEqual(
          second.entities.map((e) => [e.entity, e.created, e.updated]),
          [
            ["company", 0, 0],
            ["contact", 0, 0],
            ["deal", 0, 0],
          ],
        )
        // company is incremental: its checkpoint skips everything; the others are compared by hash.
        assert.strictEqual(second.entities[0]!.read, 0)
        assert.strictEqual(second.entities[1]!.unchanged, 25)
        const store = yield* StateStore
        const counts = yield* store.idMapCounts(name)
        assert.deepStrictEqual(counts.map((c) => [c.entity, c.status, c.count]).sort(), [
          ["company", "created", 10],
          ["contact", "created", 25],
          ["deal", "created", 12],
        ])
      }),
    ),
  )

  it.effect("updates a changed record and skips unchanged ones", () =>
    withStore(
      Effect.gen(function* () {
        const { data, target, pipeline } = setup()
        yield* Runner.run(pipeline)
        data.people[3]!.name = "Renamed"
        const report = yield* Runner.run(pipeline)
        const contact = report.entities.find((e) => e.entity === "contact")!
        assert.strictEqual(contact.updated, 1)
        assert.strictEqual(contact.unchanged, 24)
        const item = [...target.items("contact").values()].find((c) => c.originId === "contact:4")!
        assert.strictEqual(item.fields.name, "Renamed")
        assert.strictEqual(target.items("contact").size, 25)
      }),
    ),
  )

  it.effect("a record whose mapping throws goes to the dead letters with stage, message and payload", () =>
    withStore(
      Effect.gen(function* () {
        const { target, pipeline, name } = setup()
        const failing = Pipeline.make({
          ...pipeline,
          entities: {
            ...pipeline.entities,
            company: {
              ...pipeline.entities.company,
              map: (r: { id: number; name: string }) => {
                if (r.id === 4) throw new Error("cannot map company 4")
                return { title: r.name }
              },
            },
          },
        })
        const report = yield* Runner.run(failing)
        assert.strictEqual(report.status, "partial")
        assert.strictEqual(Report.exitCode(report), 2)
        const store = yield* StateStore
        const letters = yield* store.deadLetters(name)
        const mapLetter = letters.find((l) => l.entity === "company")!
        assert.strictEqual(mapLetter.sourceKey, "4")
        assert.strictEqual(mapLetter.stage, "map")
        assert.strictEqual(mapLetter.message, "cannot map company 4")
        assert.deepStrictEqual(mapLetter.payload, { id: 4, name: "Company 4", updated: 103 })
        // Its dependents are dead letters too, as unresolved references, never sent with a broken link.
        const unresolved = letters.filter((l) => l.code === "UNRESOLVED_REFERENCE")
        assert.deepStrictEqual(
          unresolved.map((l) => `${l.entity}:${l.sourceKey}`).sort(),
          ["contact:14", "contact:24", "contact:4", "deal:4"].sort(),
        )
        // Each says why: the company's own failure, quoted.
        assert.include(
          unresolved.find((l) => l.entity === "contact")!.message,
          "companyId -> company 4: that record failed (stage map, ",
        )
        assert.include(unresolved.find((l) => l.entity === "contact")!.message, "cannot map company 4)")
        assert.isFalse([...target.items("contact").values()].some((c) => c.fields.companyId === undefined))
      }),
    ),
  )

  it.effect(
    "a reference to a record this run left out says why: filtered by a step, or deleted in the source",
    () =>
      withStore(
        Effect.gen(function* () {
          const { pipeline, name } = setup()
          const company = pipeline.entities.company
          const leftOut = Pipeline.make({
            ...pipeline,
            entities: {
              ...pipeline.entities,
              company: {
                ...company,
                steps: Step.filter((r: { id: number; name: string }) => r.id !== 3),
                deleted: { when: (r: { id: number }) => r.id === 4, policy: "ignore" as const },
              },
            },
          })
          const report = yield* Runner.run(leftOut)
          assert.strictEqual(report.status, "partial")
          const letters = yield* Effect.flatMap(StateStore, (s) => s.deadLetters(name, { entity: "contact" }))
          const of = (key: string) => letters.find((l) => l.sourceKey === key)!.message
          assert.strictEqual(of("3"), "companyId -> company 3: a step of its entity filtered that record out")
          assert.strictEqual(
            of("4"),
            "companyId -> company 4: that record is deleted in the source, so it was not created (its entity's deleted rule)",
          )
        }),
      ),
  )

  it.effect(
    "rejections from the sink are dead letters with the sink's code; a later run writes them once fixed",
    () =>
      withStore(
        Effect.gen(function* () {
          const { target, pipeline, name } = setup()
          target.state.reject = (fields) => fields.title === "Company 2"
          const first = yield* Runner.run(pipeline)
          assert.strictEqual(first.status, "partial")
          const store = yield* StateStore
          const letter = (yield* store.deadLetters(name)).find((l) => l.entity === "company")!
          assert.strictEqual(letter.code, "BAD_ITEM")
          assert.strictEqual(letter.stage, "write")
          target.state.reject = () => false
          const retry = yield* Runner.run(pipeline, { onlyDeadLetters: true })
          assert.strictEqual(retry.status, "succeeded")
          assert.strictEqual(retry.deadLetters, 0)
          assert.strictEqual(target.items("company").size, 10)
          assert.strictEqual(target.items("contact").size, 25)
        }),
      ),
  )

  it.effect("an ambiguous failure after the items were created does not duplicate them", () =>
    withStore(
      Effect.gen(function* () {
        const { target, pipeline } = setup()
        target.state.failAfterApply = 2
        target.state.failBeforeApply = 2
        const report = yield* Runner.run(pipeline)
        assert.strictEqual(report.status, "succeeded")
        for (const name of ["company", "contact", "deal"]) {
          const origins = [...target.items(name).values()].map((i) => i.originId)
          assert.strictEqual(new Set(origins).size, origins.length, `${name} has no duplicates`)
        }
        assert.strictEqual(target.items("contact").size, 25)
        assert.isAbove(target.state.calls.find, 0)
      }),
    ),
  )

  it.effect("pending records left by a crash are found in the target, not created again", () =>
    withStore(
      Effect.gen(function* () {
        const { target, pipeline, name } = setup()
        const store = yield* StateStore
        // A crash after the portal created company 1 and 2 but before their ids were recorded.
        yield* store.markPending(name, "company", "crashed:company:0", [
          { sourceKey: "1", targetType: "company", payloadHash: "x" },
          { sourceKey: "2", targetType: "company", payloadHash: "x" },
        ])
        target
          .items("company")
          .set("900", { id: "900", originId: "company:1", fields: { title: "Company 1" } })
        const report = yield* Runner.run(pipeline)
        assert.strictEqual(report.status, "succeeded")
        assert.strictEqual(target.items("company").size, 10)
        const row = (yield* store.lookup(name, "company", ["1"])).get("1")!
        assert.strictEqual(row.targetId, "900")
        assert.strictEqual(row.status, "created")
      }),
    ),
  )

  it.effect("a run left `running` by a process that died is closed as crashed by the next run", () =>
    withStore(
      Effect.gen(function* () {
        const { pipeline } = setup()
        const store = yield* StateStore
        const dead = yield* store.startRun(pipeline.name)
        const report = yield* Runner.run(pipeline)
        assert.strictEqual(report.status, "succeeded")
        const runs = yield* store.recentRuns(pipeline.name, 10)
        assert.strictEqual(runs.find((r) => r.id === dead.id)?.status, "crashed")
        assert.strictEqual(runs.find((r) => r.id === report.runId)?.status, "succeeded")
      }),
    ),
  )

  it.effect("a stop request ends reading, commits what was written, and the next run resumes", () =>
    withStore(
      Effect.gen(function* () {
        const { target, pipeline } = setup()
        const stop = yield* Deferred.make<void>()
        target.state.onCreate = () =>
          target.state.calls.create === 4
            ? Deferred.succeed(stop, undefined).pipe(Effect.asVoid)
            : Effect.void
        const first = yield* Runner.run(pipeline, { stop: Deferred.await(stop), chunkSize: 5 })
        assert.strictEqual(first.status, "interrupted")
        assert.strictEqual(Report.exitCode(first), 1)
        // Stopped while writing contacts: the chunks in flight were finished, nothing after them.
        assert.strictEqual(target.items("company").size, 10)
        assert.isAbove(target.items("contact").size, 0)
        assert.isBelow(target.items("contact").size, 25)
        assert.strictEqual(target.items("deal").size, 0)
        const store = yield* StateStore
        const pending = yield* store.pending(pipeline.name, "contact")
        assert.strictEqual(pending.length, 0)
        target.state.onCreate = () => Effect.void
        const second = yield* Runner.run(pipeline)
        assert.strictEqual(second.status, "succeeded")
        assert.strictEqual(target.items("company").size, 10)
        assert.strictEqual(target.items("contact").size, 25)
        assert.strictEqual(target.items("deal").size, 12)
      }),
    ),
  )

  it.effect(
    "a stop sends no batch that had not started: records read ahead stay unread, the checkpoint stays before them",
    () =>
      withStore(
        Effect.gen(function* () {
          const companies = Array.from({ length: 120 }, (_, i) => ({ id: i + 1, name: `Company ${i + 1}` }))
          const source = MemorySource.make("legacy", { companies })
          const target = MemorySink.make()
          const pipeline = Pipeline.make({
            name: `stop-read-ahead-${++pipelineNo}`,
            sink: target.sink,
            entities: {
              company: {
                from: source.table("companies", { key: "id", cursor: "id" }),
                to: target.target("company"),
                map: (r: { name: string }) => ({ title: r.name }),
              },
            },
          })
          const stop = yield* Deferred.make<void>()
          // One chunk of 120 records, batches of 3, two at a time: stopped as the fifth batch starts.
          target.state.onCreate = () =>
            target.state.calls.create === 4
              ? Deferred.succeed(stop, undefined).pipe(Effect.asVoid)
              : Effect.void
          const notes: Array<string> = []
          const first = yield* Runner.run(pipeline, { stop: Deferred.await(stop), chunkSize: 500 }).pipe(
            Effect.provideService(Progress.Progress, {
              start: () => Effect.void,
              advance: () => Effect.void,
              finish: () => Effect.void,
              note: (message) => Effect.sync(() => notes.push(message)),
            }),
          )
          assert.strictEqual(first.status, "interrupted")
          // The fifth batch and at most one beside it were sending: 36 more batches were not sent.
          assert.isAtMost(target.state.calls.create, 6)
          const written = target.items("company").size
          assert.isAtMost(written, 18)
          assert.strictEqual(first.entities[0]!.created, written)
          // What was not sent is not counted as read: the next run reads it.
          assert.strictEqual(first.entities[0]!.read, written)
          assert.isTrue(
            notes.some((n) => /^stopping: finishing [12] batch(es)? \([36] records\)…/.test(n)),
            notes.join("\n"),
          )
          const store = yield* StateStore
          // The chunk was cut short: its records are read again, from where the checkpoint was (nowhere yet).
          assert.isTrue(Option.isNone(yield* store.checkpoint(pipeline.name, "company")))
          assert.strictEqual((yield* store.pending(pipeline.name, "company")).length, 0)
          target.state.onCreate = () => Effect.void
          const second = yield* Runner.run(pipeline)
          assert.strictEqual(second.status, "succeeded")
          assert.strictEqual(second.entities[0]!.created, 120 - written)
          assert.strictEqual(second.entities[0]!.unchanged, written)
          const origins = [...target.items("company").values()].map((i) => i.originId)
          assert.strictEqual(new Set(origins).size, 120)
          assert.strictEqual(origins.length, 120)
        }),
      ),
  )

  it.effect(
    "records deleted in the source are never created; an existing one gets the policy's update once",
    () =>
      withStore(
        Effect.gen(function* () {
          const rows = [
            { id: 1, name: "Alive", deleted: false },
            { id: 2, name: "Gone before migration", deleted: true },
            { id: 3, name: "Gone later", deleted: false },
          ]
          const source = MemorySource.make("legacy", { companies: rows })
          const target = MemorySink.make()
          const pipeline = Pipeline.make({
            name: `soft-delete-${++pipelineNo}`,
            sink: target.sink,
            entities: {
              company: {
                from: source.table("companies", { key: "id" }),
                to: target.target("company"),
                deleted: {
                  when: (r: { deleted: boolean }) => r.deleted,
                  policy: { update: { opened: "N" } },
                },
                map: (r: { name: string }) => ({ title: r.name, opened: "Y" }),
              },
            },
          })
          const first = yield* Runner.run(pipeline)
          assert.strictEqual(first.entities[0]!.created, 2)
          assert.strictEqual(first.entities[0]!.skipped, 1)
          rows[2]!.deleted = true
          const second = yield* Runner.run(pipeline)
          assert.strictEqual(second.entities[0]!.updated, 1)
          const gone = [...target.items("company").values()].find((i) => i.originId === "company:3")!
          assert.strictEqual(gone.fields.opened, "N")
          const third = yield* Runner.run(pipeline)
          assert.strictEqual(third.entities[0]!.updated, 0)
          assert.strictEqual(target.items("company").size, 2)
        }),
      ),
  )

  it.effect("a dry run writes nothing and reports what it would create", () =>
    withStore(
      Effect.gen(function* () {
        const { target, pipeline, name } = setup()
        const report = yield* Runner.run(pipeline, { dryRun: true })
        assert.strictEqual(report.dryRun, true)
        assert.strictEqual(report.entities.find((e) => e.entity === "deal")!.created, 12)
        assert.strictEqual(target.items("company").size, 0)
        const store = yield* StateStore
        assert.deepStrictEqual(yield* store.idMapCounts(name), [])
      }),
    ),
  )

  it.effect("a cycle declared deferred is created without the back-link and linked afterwards", () =>
    withStore(
      Effect.gen(function* () {
        const source = MemorySource.make("legacy", {
          companies: [
            { id: 1, name: "Parent", parent_id: null },
            { id: 2, name: "Child", parent_id: 1 },
            { id: 3, name: "Grandchild", parent_id: 2 },
          ],
        })
        const target = MemorySink.make()
        const pipeline = Pipeline.make({
          name: "self-ref",
          sink: target.sink,
          entities: {
            company: {
              from: source.table("companies", { key: "id" }),
              to: target.target("company"),
              references: [{ entity: "company", field: "parentCompanyId", deferred: true }],
              map: (r: { name: string; parent_id: number | null }) => ({
                title: r.name,
                parentCompanyId: ref("company", r.parent_id),
              }),
            },
          },
        })
        const report = yield* Runner.run(pipeline)
        assert.strictEqual(report.status, "succeeded")
        const byOrigin = new Map([...target.items("company").values()].map((i) => [i.originId, i]))
        assert.strictEqual(byOrigin.get("company:2")!.fields.parentCompanyId, byOrigin.get("company:1")!.id)
        assert.strictEqual(byOrigin.get("company:3")!.fields.parentCompanyId, byOrigin.get("company:2")!.id)
        const again = yield* Runner.run(pipeline)
        assert.strictEqual(again.entities[0]!.unchanged, 3)
      }),
    ),
  )

  it.effect("decode failures name the field", () =>
    withStore(
      Effect.gen(function* () {
        const source = MemorySource.make("legacy", {
          companies: [
            { id: 1, name: "Ok" },
            { id: 2, name: 42 },
          ],
        })
        const target = MemorySink.make()
        const pipeline = Pipeline.make({
          name: "decode",
          sink: target.sink,
          entities: {
            company: Pipeline.entity({
              from: source.table("companies", { key: "id" }),
              schema: Schema.Struct({ id: Schema.Number, name: Schema.String }),
              to: target.target("company"),
              map: (r) => ({ title: r.name }),
            }),
          },
        })
        const report = yield* Runner.run(pipeline)
        assert.strictEqual(report.status, "partial")
        const store = yield* StateStore
        const [letter] = yield* store.deadLetters("decode")
        assert.strictEqual(letter!.stage, "decode")
        assert.include(letter!.message, "name")
      }),
    ),
  )
})

describe("Pipeline.validate", () => {
  const target = MemorySink.make()
  const source = MemorySource.make("legacy", {})
  const e = (references: ReadonlyArray<string>) => ({
    from: source.table("t", { key: "id" }),
    to: target.target("x"),
    references,
    map: () => ({}),
  })
  plainIt.effect("names the entities on a reference cycle", () =>
    Effect.gen(function* () {
      const pipeline = Pipeline.make({
        name: "cyclic",
        sink: target.sink,
        entities: { company: e([]), contact: e(["company", "deal"]), deal: e(["contact"]) },
      })
      const error = yield* Effect.flip(Pipeline.validate(pipeline))
      assert.include(error.message, "reference cycle: contact -> deal -> contact")
    }),
  )
  plainIt.effect("names the entity and the unknown reference", () =>
    Effect.gen(function* () {
      const pipeline = Pipeline.make({
        name: "unknown",
        sink: target.sink,
        entities: { contact: e(["compnay"]) },
      })
      const error = yield* Effect.flip(Pipeline.validate(pipeline))
      assert.strictEqual(error.entity, "contact")
      assert.include(error.message, 'unknown entity "compnay"')
    }),
  )
  plainIt.effect("refuses entity names that collide in the state store", () =>
    Effect.gen(function* () {
      const pipeline = Pipeline.make({
        name: "dup",
        sink: target.sink,
        entities: { Company: e([]), company: e([]) },
      })
      const error = yield* Effect.flip(Pipeline.validate(pipeline))
      assert.include(error.message, "duplicate entity")
    }),
  )
})
