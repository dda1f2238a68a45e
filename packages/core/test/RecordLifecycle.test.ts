/**
 * No record is lost in silence and none aborts a run: keys read twice, keys the id map cannot
 * hold, text the state store cannot keep become dead letters while the other records land; a
 * far-future cursor never freezes the checkpoint; the exit code says what this run did, and
 * dismissed dead letters stop counting. The store-facing cases run on PGlite, PostgreSQL and
 * MariaDB state stores.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { afterAll } from "vitest"
import * as Pipeline from "../src/Pipeline.js"
import * as Progress from "../src/Progress.js"
import { ref } from "../src/Reference.js"
import * as Report from "../src/Report.js"
import * as Runner from "../src/Runner.js"
import { StateStore } from "../src/StateStore.js"
import * as StateStoreSql from "../src/StateStoreSql.js"
import * as MemorySink from "./fixtures/MemorySink.js"
import * as MemorySource from "./fixtures/MemorySource.js"
import * as StateDrivers from "./fixtures/StateDrivers.js"

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-records-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))

const stores: ReadonlyArray<readonly [string, Layer.Layer<StateStore>]> = [
  ["SQLite", Layer.orDie(StateStoreSql.layerSqlite(join(stateDir, "sqlite")))],
  ["PGlite", Layer.orDie(StateStoreSql.layerPglite(join(stateDir, "pglite")))],
  [
    "PostgreSQL",
    Layer.scoped(
      StateStore,
      Effect.flatMap(StateDrivers.postgresDatabase("b24etl_life13_records"), (db) =>
        StateStoreSql.makeFromUrl(db.url, StateDrivers.drivers),
      ),
    ).pipe(Layer.orDie),
  ],
  [
    "MariaDB",
    Layer.scoped(
      StateStore,
      Effect.flatMap(StateDrivers.mysqlDatabase("b24etl_life13_records"), (db) =>
        StateStoreSql.makeFromUrl(db.url, StateDrivers.drivers),
      ),
    ).pipe(Layer.orDie),
  ],
]

let pipelineNo = 0

const longKey = "k".repeat(300)

/** Companies with every kind of bad record, and contacts linking to some of them. */
const badRecords = () => {
  const name = `records-${++pipelineNo}`
  const source = MemorySource.make("legacy", {
    companies: [
      { id: "1", name: "Acme" },
      { id: "2", name: "Globex" },
      { id: "3", name: "Initech first" },
      { id: "3", name: "Initech second" },
      { id: longKey, name: "Long" },
      { id: "nul\u0000key", name: "Nul key" },
      { id: "sur\ud800key", name: "Surrogate key" },
      { id: "5", name: "Bad \udc80 text" },
      { id: "6", name: "A NUL \u0000 in a value is text like any other" },
    ],
    people: [
      { id: "1", company: "1" },
      { id: "2", company: "nul\u0000key" },
      { id: "3", company: longKey },
    ],
  })
  const target = MemorySink.make()
  const pipeline = Pipeline.make({
    name,
    sink: target.sink,
    entities: {
      company: {
        from: source.table("companies", { key: "id" }),
        to: target.target("company"),
        map: (r: { name: string }) => ({ title: r.name }),
      },
      contact: {
        from: source.table("people", { key: "id" }),
        to: target.target("contact"),
        references: ["company"],
        map: (r: { company: string }) => ({ companyId: ref("company", r.company) }),
      },
    },
  })
  return { name, pipeline, target }
}

for (const [kind, store] of stores) {
  layer(Layer.merge(store, Progress.silent), { timeout: 120_000, excludeTestServices: true })(
    `bad records on a ${kind} state store`,
    (it) => {
      it.effect(
        "each is a dead letter with its reason, the others land, exit 2; dismissed, the next run exits 0",
        () =>
          Effect.gen(function* () {
            const { name, pipeline, target } = badRecords()
            const store = yield* StateStore
            const first = yield* Runner.run(pipeline)
            assert.strictEqual(first.status, "partial", first.error)
            assert.strictEqual(Report.exitCode(first), 2)
            // The good records land; of the key read twice, the first copy.
            assert.deepStrictEqual(
              [...target.items("company").values()].map((i) => [i.originId, i.fields.title]).sort(),
              [
                ["company:1", "Acme"],
                ["company:2", "Globex"],
                ["company:3", "Initech first"],
                ["company:6", "A NUL \u0000 in a value is text like any other"],
              ],
            )
            assert.deepStrictEqual(
              [...target.items("contact").values()].map((i) => i.originId),
              ["contact:1"],
            )

            const letters = yield* store.deadLetters(name)
            const of = (entity: string, code: string) =>
              letters.filter((l) => l.entity === entity && l.code === code)
            const duplicate = of("company", "DUPLICATE_KEY")
            assert.strictEqual(duplicate.length, 1)
            assert.strictEqual(duplicate[0]!.sourceKey, "3")
            assert.deepStrictEqual(duplicate[0]!.payload, {
              first: { id: "3", name: "Initech first" },
              second: { id: "3", name: "Initech second" },
            })
            assert.include(duplicate[0]!.message, "holds this key twice")

            const long = of("company", "KEY_TOO_LONG")[0]!
            assert.isAtMost([...long.sourceKey].length, 255)
            assert.isTrue(long.sourceKey.startsWith("k".repeat(200)))
            assert.include(long.message, "the key is 300 characters; the id map keeps at most 255")
            assert.include(long.message, "the full key is the payload's sourceKey")
            assert.deepStrictEqual(long.payload, {
              sourceKey: longKey,
              record: { id: longKey, name: "Long" },
            })

            const invalidKeys = of("company", "INVALID_KEY")
            assert.deepStrictEqual(invalidKeys.map((l) => l.sourceKey).sort(), [
              "nul\\u0000key",
              "sur\\ud800key",
            ])
            assert.include(invalidKeys.find((l) => l.sourceKey.startsWith("nul"))!.message, "a NUL character")
            assert.include(
              invalidKeys.find((l) => l.sourceKey.startsWith("sur"))!.message,
              "a lone UTF-16 surrogate (\\ud800",
            )
            const invalidText = of("company", "INVALID_TEXT")[0]!
            assert.strictEqual(invalidText.sourceKey, "5")
            assert.include(invalidText.message, "title holds a lone UTF-16 surrogate (\\udc80) at position 5")

            // Dependants of the records that could not be kept say which failure it was.
            const contacts = of("contact", "UNRESOLVED_REFERENCE")
            assert.deepStrictEqual(contacts.map((l) => l.sourceKey).sort(), ["2", "3"])
            assert.include(contacts.find((l) => l.sourceKey === "2")!.message, "INVALID_KEY")
            assert.include(contacts.find((l) => l.sourceKey === "3")!.message, "KEY_TOO_LONG")

            // Nothing changed: the same records fail again, and count again.
            const second = yield* Runner.run(pipeline)
            assert.strictEqual(second.status, "partial", second.error)
            const again = yield* store.deadLetters(name)
            assert.strictEqual(again.length, letters.length)
            // One copy of key 3 is unchanged, but the key's dead letter stays (one attempt more).
            assert.strictEqual(again.find((l) => l.code === "DUPLICATE_KEY")!.attempts, 2)

            // Acknowledged as known-bad, they stop counting: the next run exits 0.
            assert.strictEqual(yield* store.dismissDeadLetters(name, {}), letters.length)
            const third = yield* Runner.run(pipeline)
            assert.strictEqual(third.status, "succeeded", third.error)
            assert.strictEqual(Report.exitCode(third), 0)
            assert.strictEqual(third.deadLetters, 0)
            const dismissed = yield* store.deadLetters(name)
            assert.strictEqual(dismissed.length, letters.length)
            assert.isTrue(dismissed.every((l) => l.dismissedAt !== null && l.attempts === 3))
            // A retry leaves known-bad records alone.
            const retry = yield* Runner.run(pipeline, { onlyDeadLetters: true })
            assert.strictEqual(retry.status, "succeeded")
            assert.deepStrictEqual(
              retry.entities.map((e) => e.read),
              [0, 0],
            )
            assert.strictEqual(target.items("company").size, 4)
          }),
      )
    },
  )
}

const pglite = Layer.merge(stores[0]![1], Progress.silent)

layer(pglite, { timeout: 120_000, excludeTestServices: true })("the dead letters' lifecycle", (it) => {
  it.effect(
    "dead letters of earlier runs do not make a later run partial; the report still counts them",
    () =>
      Effect.gen(function* () {
        const name = `records-${++pipelineNo}`
        const source = MemorySource.make("legacy", {
          companies: [1, 2, 3].map((id) => ({ id, name: `Company ${id}`, updated: id })),
        })
        const target = MemorySink.make()
        target.state.reject = (fields) => fields.title === "Company 2"
        const pipeline = Pipeline.make({
          name,
          sink: target.sink,
          entities: {
            company: {
              from: source.table("companies", { key: "id", cursor: "updated" }),
              to: target.target("company"),
              map: (r: { name: string }) => ({ title: r.name }),
            },
          },
        })
        const first = yield* Runner.run(pipeline)
        assert.strictEqual(first.status, "partial")
        assert.strictEqual(first.failedNow, 1)
        const second = yield* Runner.run(pipeline)
        assert.strictEqual(second.status, "succeeded")
        assert.strictEqual(Report.exitCode(second), 0)
        assert.strictEqual(second.deadLetters, 1)
        assert.strictEqual(second.failedNow, 0)
        // Retried and still failing: this run failed.
        const retry = yield* Runner.run(pipeline, { onlyDeadLetters: true })
        assert.strictEqual(retry.status, "partial")
      }),
  )

  it.effect("a retry never moves the checkpoint: a change it did not read is read by the next run", () =>
    Effect.gen(function* () {
      const name = `records-${++pipelineNo}`
      const data = { companies: [1, 2, 3].map((id) => ({ id, name: `Company ${id}`, updated: id })) }
      const source = MemorySource.make("legacy", data)
      const target = MemorySink.make()
      target.state.reject = (fields) => fields.title === "Company 2"
      const pipeline = Pipeline.make({
        name,
        sink: target.sink,
        entities: {
          company: {
            from: source.table("companies", { key: "id", cursor: "updated" }),
            to: target.target("company"),
            map: (r: { name: string }) => ({ title: r.name }),
          },
        },
      })
      assert.strictEqual((yield* Runner.run(pipeline)).status, "partial")
      // The bad row is fixed in the source (a later cursor), and another row changes meanwhile.
      data.companies[1] = { id: 2, name: "Company 2 (fixed)", updated: 10 }
      data.companies[0] = { id: 1, name: "Company 1 (edited)", updated: 5 }
      const retry = yield* Runner.run(pipeline, { onlyDeadLetters: true })
      assert.strictEqual(retry.status, "succeeded")
      assert.strictEqual(retry.entities[0]!.created, 1)
      const next = yield* Runner.run(pipeline)
      assert.strictEqual(next.entities[0]!.updated, 1)
      const one = [...target.items("company").values()].find((i) => i.originId === "company:1")!
      assert.strictEqual(one.fields.title, "Company 1 (edited)")
    }),
  )

  it.effect("retry keeps a dependant's reason when it knows nothing new of the parent", () =>
    Effect.gen(function* () {
      const name = `records-${++pipelineNo}`
      const source = MemorySource.make("legacy", {
        companies: [1, 2, 3].map((id) => ({ id, name: `Company ${id}`, gone: id === 2 })),
        people: [1, 2].map((id) => ({ id, company: id })),
      })
      const target = MemorySink.make()
      const pipeline = Pipeline.make({
        name,
        sink: target.sink,
        entities: {
          company: {
            from: source.table("companies", { key: "id" }),
            to: target.target("company"),
            deleted: { when: (r: { gone: boolean }) => r.gone, policy: "ignore" as const },
            map: (r: { name: string }) => ({ title: r.name }),
          },
          contact: {
            from: source.table("people", { key: "id" }),
            to: target.target("contact"),
            references: ["company"],
            map: (r: { company: number }) => ({ companyId: ref("company", r.company) }),
          },
        },
      })
      const store = yield* StateStore
      const deleted =
        "companyId -> company 2: that record is deleted in the source, so it was not created (its entity's deleted rule)"
      const reason = Effect.map(store.deadLetters(name, { entity: "contact" }), (ls) =>
        ls.map((l) => l.message),
      )
      assert.strictEqual((yield* Runner.run(pipeline)).status, "partial")
      assert.deepStrictEqual(yield* reason, [deleted])
      const retry = yield* Runner.run(pipeline, { onlyDeadLetters: true })
      assert.strictEqual(retry.status, "partial")
      assert.deepStrictEqual(yield* reason, [deleted])

      // Dismissed, the same failure keeps it dismissed: a full run succeeds.
      yield* store.dismissDeadLetters(name, { entity: "contact", keys: ["2"] })
      const full = yield* Runner.run(pipeline)
      assert.strictEqual(full.status, "succeeded")
      assert.strictEqual(full.entities.find((e) => e.entity === "contact")!.failed, 1)
      const [letter] = yield* store.deadLetters(name, { entity: "contact" })
      assert.isNotNull(letter!.dismissedAt)
      assert.strictEqual(letter!.attempts, 3)
    }),
  )

  it.effect(
    "a key read twice in different chunks: the later copy is the dead letter, with both payloads",
    () =>
      Effect.gen(function* () {
        const name = `records-${++pipelineNo}`
        // By cursor: 7 (first copy), 8, 9, 10, 11, 7 (second copy, four chunks later), 12 and 12 (adjacent chunks).
        const rows = [
          { id: 7, name: "Seven", updated: 1 },
          ...[8, 9, 10, 11].map((id) => ({ id, name: `Company ${id}`, updated: id })),
          { id: 7, name: "Seven again", updated: 20 },
          { id: 12, name: "Twelve", updated: 21 },
          { id: 12, name: "Twelve again", updated: 22 },
        ]
        const source = MemorySource.make("legacy", { companies: rows })
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
          },
        })
        const report = yield* Runner.run(pipeline, { chunkSize: 2 })
        assert.strictEqual(report.status, "partial")
        assert.deepStrictEqual(
          [report.entities[0]!.read, report.entities[0]!.created, report.entities[0]!.failed],
          [8, 6, 2],
        )
        const letters = yield* Effect.flatMap(StateStore, (s) => s.deadLetters(name))
        const seven = letters.find((l) => l.sourceKey === "7")!
        assert.strictEqual(seven.code, "DUPLICATE_KEY")
        assert.deepStrictEqual(seven.payload, {
          first: null,
          second: { id: 7, name: "Seven again", updated: 20 },
        })
        assert.include(seven.message, "read too long before")
        const twelve = letters.find((l) => l.sourceKey === "12")!
        assert.deepStrictEqual(twelve.payload, {
          first: { id: 12, name: "Twelve", updated: 21 },
          second: { id: 12, name: "Twelve again", updated: 22 },
        })
        const titles = [...target.items("company").values()].map((i) => i.fields.title)
        assert.includeMembers(titles, ["Seven", "Twelve"])
      }),
  )

  it.effect(
    "a record whose preparing throws where nothing expected it is a dead letter; the others land",
    () =>
      Effect.gen(function* () {
        const name = `records-${++pipelineNo}`
        const source = MemorySource.make("legacy", {
          companies: [1, 2, 3].map((id) => ({ id, name: `Company ${id}` })),
        })
        const target = MemorySink.make()
        const pipeline = Pipeline.make({
          name,
          sink: target.sink,
          entities: {
            company: {
              from: source.table("companies", { key: "id" }),
              to: target.target("company"),
              map: (r: { id: number; name: string }) => {
                const fields: Record<string, unknown> = { title: r.name }
                // A value that cannot be hashed or sent.
                if (r.id === 2) fields.self = fields
                return fields
              },
            },
          },
        })
        const report = yield* Runner.run(pipeline)
        assert.strictEqual(report.status, "partial", report.error)
        assert.strictEqual(target.items("company").size, 2)
        const [letter] = yield* Effect.flatMap(StateStore, (s) => s.deadLetters(name))
        assert.strictEqual(letter!.code, "PREPARE_FAILED")
        assert.strictEqual(letter!.sourceKey, "2")
        assert.include(letter!.message, "preparing the record failed: ")
        assert.include(letter!.message, "circular")
      }),
  )

  it.effect("a key read twice leaves the dead letters once the source holds it once", () =>
    Effect.gen(function* () {
      const name = `records-${++pipelineNo}`
      const data = {
        companies: [
          { id: 1, name: "One" },
          { id: 1, name: "One again" },
          { id: 2, name: "Two" },
        ],
      }
      const source = MemorySource.make("legacy", data)
      const target = MemorySink.make()
      const pipeline = Pipeline.make({
        name,
        sink: target.sink,
        entities: {
          company: {
            from: source.table("companies", { key: "id" }),
            to: target.target("company"),
            map: (r: { name: string }) => ({ title: r.name }),
          },
        },
      })
      assert.strictEqual((yield* Runner.run(pipeline)).status, "partial")
      data.companies.splice(1, 1)
      const fixed = yield* Runner.run(pipeline)
      assert.strictEqual(fixed.status, "succeeded")
      assert.strictEqual(fixed.deadLetters, 0)
      assert.strictEqual(target.items("company").size, 2)
    }),
  )

  it.effect(
    "a far-future or infinity cursor: written, the checkpoint stays before it, a later change is read, the warning names it",
    () =>
      Effect.gen(function* () {
        const name = `records-${++pipelineNo}`
        const data = {
          companies: [
            { id: 1, name: "One", updated: new Date("2020-01-01T00:00:00Z") },
            { id: 2, name: "Two", updated: new Date("2020-01-02T00:00:00Z") },
            { id: 3, name: "Far", updated: new Date("9999-12-31T00:00:00Z") },
            { id: 4, name: "Forever", updated: "infinity" as string | Date },
          ],
        }
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
          },
        })
        const notes: Array<string> = []
        const progress = Layer.succeed(Progress.Progress, {
          start: () => Effect.void,
          advance: () => Effect.void,
          finish: () => Effect.void,
          note: (message: string) => Effect.sync(() => notes.push(message)),
        })
        const first = yield* Runner.run(pipeline).pipe(Effect.provide(progress))
        assert.strictEqual(first.status, "succeeded")
        assert.strictEqual(first.entities[0]!.created, 4)
        assert.deepStrictEqual(
          first.warnings?.map((w) => [w.entity, w.code, w.keys]),
          [["company", "FUTURE_CURSOR", ["3", "4"]]],
        )
        assert.include(first.warnings![0]!.message, "keys 3, 4")
        assert.strictEqual(notes.filter((n) => n.includes("keys 3, 4")).length, 1)
        const checkpoint = yield* Effect.flatMap(StateStore, (s) => s.checkpoint(name, "company"))
        assert.deepStrictEqual(Option.getOrUndefined(checkpoint), [Date.parse("2020-01-02T00:00:00Z"), 2])

        data.companies[0] = { id: 1, name: "One (edited)", updated: new Date() }
        const second = yield* Runner.run(pipeline)
        assert.deepStrictEqual(
          [second.entities[0]!.read, second.entities[0]!.updated, second.entities[0]!.unchanged],
          [3, 1, 2],
        )
        assert.deepStrictEqual(
          second.warnings?.map((w) => w.keys),
          [["3", "4"]],
        )
        assert.strictEqual(
          [...target.items("company").values()].find((i) => i.originId === "company:1")!.fields.title,
          "One (edited)",
        )
      }),
  )
})
