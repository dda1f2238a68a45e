/**
 * `Runner.verify` against a target in memory: what counts as a difference and under which
 * finding, each once, with what to do; records the pipeline leaves out on purpose are none.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterAll } from "vitest"
import * as Pipeline from "../src/Pipeline.js"
import * as Progress from "../src/Progress.js"
import { ref } from "../src/Reference.js"
import * as Runner from "../src/Runner.js"
import { StateStore } from "../src/StateStore.js"
import * as StateStoreSql from "../src/StateStoreSql.js"
import * as Step from "../src/Step.js"
import * as MemorySink from "./fixtures/MemorySink.js"
import * as MemorySource from "./fixtures/MemorySource.js"

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-verify17-core-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))

let pipelineNo = 0

type Company = { id: string; name: string; gone?: boolean; test?: boolean }
type Person = { id: string; name: string; company: string | null }

/** Companies (one marked deleted, one filtered out) and people linked to them; every store its own pipeline. */
const shop = () => {
  const name = `verify-core-${++pipelineNo}`
  const tables = {
    companies: [
      { id: "1", name: "Acme" },
      { id: "2", name: "Globex" },
      { id: "3", name: "Initech", gone: true },
      { id: "4", name: "Test company", test: true },
      { id: "5", name: "Umbrella" },
    ] as Array<Company>,
    people: [
      { id: "1", name: "Ann", company: "1" },
      { id: "2", name: "Bob", company: "2" },
      { id: "3", name: "Cid", company: null },
      { id: "4", name: "Dee", company: "5" },
    ] as Array<Person>,
  }
  const source = MemorySource.make(
    "legacy",
    tables as unknown as Record<string, Array<Record<string, unknown>>>,
  )
  const target = MemorySink.make()
  const pipeline = Pipeline.make({
    name,
    sink: target.sink,
    entities: {
      company: Pipeline.entity({
        from: source.table("companies", { key: "id" }),
        to: target.target("company"),
        steps: Step.pipe(Step.filter((r: Readonly<Record<string, unknown>>) => r.test !== true)),
        deleted: { when: (r) => r.gone === true, policy: "ignore" },
        map: (r) => ({ title: r.name }),
      }),
      contact: Pipeline.entity({
        from: source.table("people", { key: "id" }),
        // The same target as companies: items of both come in one listing.
        to: target.target("company"),
        references: ["company"],
        map: (r: Person) => ({ title: r.name, companyId: ref("company", r.company) }),
      }),
    },
  })
  return { pipeline, target, tables }
}

const kinds = (result: Runner.VerifyResult) =>
  result.findings.map((f) => `${f.kind} ${f.entity}:${f.key} ${f.action}`).sort()

layer(Layer.merge(Layer.orDie(StateStoreSql.layerPglite(stateDir)), Progress.silent), {
  timeout: 120_000,
  excludeTestServices: true,
})("Runner.verify", (it) => {
  it.effect("after a clean run everything matches; deleted and filtered records are not expected", () =>
    Effect.gen(function* () {
      const { pipeline } = shop()
      const run = yield* Runner.run(pipeline)
      assert.strictEqual(run.status, "succeeded", run.error)
      const result = yield* Runner.verify(pipeline, { sample: "all" })
      assert.deepStrictEqual(kinds(result), [])
      assert.isTrue(Runner.verified(result))
      assert.deepStrictEqual(
        result.entities.map((e) => [
          e.entity,
          e.source,
          e.sourceDeleted,
          e.idMap.created,
          e.portal,
          e.compared,
        ]),
        [
          ["company", 3, 2, 3, 3, 3],
          ["contact", 4, 0, 4, 4, 4],
        ],
      )
      // One entity of a shared target: the other's items are not extras.
      const contacts = yield* Runner.verify(pipeline, { entities: ["contact"] })
      assert.deepStrictEqual(kinds(contacts), [])
      assert.deepStrictEqual(
        contacts.entities.map((e) => e.entity),
        ["contact"],
      )
    }),
  )

  it.effect(
    "a changed source: a changed field is content, a changed reference a link, each for run --full",
    () =>
      Effect.gen(function* () {
        const { pipeline, tables } = shop()
        yield* Runner.run(pipeline)
        tables.companies[0]!.name = "Acme Ltd"
        tables.people[1]!.company = "1"
        tables.people[2]!.name = "Cid Changed"
        const result = yield* Runner.verify(pipeline, { sample: "all" })
        assert.deepStrictEqual(kinds(result), [
          "content company:1 run --full",
          "content contact:3 run --full",
          "link contact:2 run --full",
        ])
        const link = result.findings.find((f) => f.kind === "link")!
        assert.deepStrictEqual(
          link.fields!.map((f) => f.field),
          ["companyId"],
        )
        assert.include(link.message, "the source links company:1")
        // A sample of one record per entity compares one, spread over the keys.
        const sampled = yield* Runner.verify(pipeline, { sample: 1 })
        assert.deepStrictEqual(
          sampled.entities.map((e) => e.compared),
          [1, 1],
        )
        assert.deepStrictEqual(kinds(sampled), ["content company:1 run --full", "link contact:2 run --full"])
      }),
  )

  it.effect("a record the target refused is not migrated (retry); dismissed, it is not reported", () =>
    Effect.gen(function* () {
      const { pipeline, target } = shop()
      target.state.reject = (fields) => fields.title === "Umbrella"
      const run = yield* Runner.run(pipeline)
      assert.strictEqual(run.status, "partial", run.error)
      const result = yield* Runner.verify(pipeline)
      // Dee links to the refused company: her dead letter explains her, once.
      assert.deepStrictEqual(kinds(result), ["unmigrated company:5 retry", "unmigrated contact:4 retry"])
      const store = yield* StateStore
      yield* store.dismissDeadLetters(pipeline.name, { entity: "company", keys: ["5"] })
      assert.deepStrictEqual(kinds(yield* Runner.verify(pipeline)), ["unmigrated contact:4 retry"])
    }),
  )

  it.effect(
    "a record held by two items and no id-map row is one duplicate, not also extra or unmigrated",
    () =>
      Effect.gen(function* () {
        const { pipeline, target } = shop()
        yield* Runner.run(pipeline)
        const store = yield* StateStore
        // The id map forgets contacts; the target holds Ann twice.
        yield* store.reset(pipeline.name, "contact")
        target.items("company").set("900", { id: "900", originId: "contact:1", fields: { title: "Ann" } })
        const result = yield* Runner.verify(pipeline)
        assert.deepStrictEqual(kinds(result), [
          "duplicate contact:1 delete in portal",
          "extra contact:2 relink",
          "extra contact:3 relink",
          "extra contact:4 relink",
        ])
      }),
  )
})
