import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, layer, it as plainIt } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { afterAll } from "vitest"
import * as Bind from "../src/internal/runner/bind.js"
import * as Pipeline from "../src/Pipeline.js"
import * as Progress from "../src/Progress.js"
import * as Runner from "../src/Runner.js"
import * as SecretUrl from "../src/SecretUrl.js"
import type * as Sink from "../src/Sink.js"
import * as Source from "../src/Source.js"
import { type Binding, StateStore } from "../src/StateStore.js"
import * as StateStoreSql from "../src/StateStoreSql.js"
import * as MemorySink from "./fixtures/MemorySink.js"
import * as MemorySource from "./fixtures/MemorySource.js"

const bound = (over: Partial<Binding> = {}): Binding => ({
  pipeline: "p",
  target: "bitrix24 https://demo.example (webhook user 1)",
  originator: "legacy",
  source: "legacy: db:5432/crm",
  boundAt: new Date(0),
  ...over,
})

const wanted = (over: Partial<Bind.Wanted> = {}): Bind.Wanted => ({
  target: "bitrix24 https://demo.example (webhook user 1)",
  originator: "legacy",
  sources: new Map([["legacy", "db:5432/crm"]]),
  ...over,
})

describe("binding rules", () => {
  plainIt("the first run records the binding; the same target and source again record nothing", () => {
    const first = Bind.compare("p", wanted(), Option.none(), [], { acceptSourceChange: false })
    assert.deepStrictEqual(first.refusals, [])
    assert.deepStrictEqual(first.record, {
      pipeline: "p",
      target: "bitrix24 https://demo.example (webhook user 1)",
      originator: "legacy",
      source: "legacy: db:5432/crm",
    })
    const again = Bind.compare("p", wanted(), Option.some(bound()), [bound()], { acceptSourceChange: false })
    assert.deepStrictEqual(again, { refusals: [], record: undefined })
  })

  plainIt("another target is refused, naming both and the ways out", () => {
    const other = "bitrix24 https://real.bitrix24.com (webhook user 7)"
    const result = Bind.compare("p", wanted({ target: other }), Option.some(bound()), [bound()], {
      acceptSourceChange: true,
    })
    assert.strictEqual(result.refusals.length, 1)
    const message = result.refusals[0]!.message
    for (const part of [
      "https://demo.example",
      "https://real.bitrix24.com",
      "pipeline relink p",
      "pipeline reset p --yes",
      "PIPELINE_STATE_URL",
    ])
      assert.include(message, part)
    assert.isUndefined(result.record)
  })

  plainIt("a changed source is refused unless accepted, and then recorded; a new source is added", () => {
    const moved = wanted({ sources: new Map([["legacy", "db2:5432/crm"]]) })
    const refused = Bind.compare("p", moved, Option.some(bound()), [bound()], { acceptSourceChange: false })
    assert.strictEqual(refused.refusals[0]?._tag, "SourceChanged")
    assert.include(refused.refusals[0]!.message, "legacy was db:5432/crm, is now db2:5432/crm")
    assert.include(refused.refusals[0]!.message, "--accept-source-change")
    const accepted = Bind.compare("p", moved, Option.some(bound()), [bound()], { acceptSourceChange: true })
    assert.deepStrictEqual(accepted.refusals, [])
    assert.strictEqual(accepted.record?.source, "legacy: db2:5432/crm")
    const added = Bind.compare(
      "p",
      wanted({ sources: new Map([["shop", "https://shop.example"]]) }),
      Option.some(bound()),
      [bound()],
      { acceptSourceChange: false },
    )
    assert.strictEqual(added.record?.source, "legacy: db:5432/crm\nshop: https://shop.example")
  })

  plainIt(
    "a second pipeline with the same originator on the same target is refused; on another target it is not",
    () => {
      const first = bound({ pipeline: "first" })
      const refused = Bind.compare("p", wanted(), Option.none(), [first], { acceptSourceChange: false })
      assert.strictEqual(refused.refusals[0]?._tag, "OriginatorTaken")
      assert.include(refused.refusals[0]!.message, 'pipeline "first"')
      assert.include(refused.refusals[0]!.message, "originator")
      const elsewhere = Bind.compare(
        "p",
        wanted({ target: "bitrix24 https://other.example (webhook user 1)" }),
        Option.none(),
        [first],
        {
          acceptSourceChange: false,
        },
      )
      assert.deepStrictEqual(elsewhere.refusals, [])
    },
  )

  plainIt("a source location names host, port and database, never the user or password", () => {
    assert.strictEqual(
      SecretUrl.location("postgres://bob:s3cr3t@db.internal:5432/crm?sslmode=require"),
      "db.internal:5432/crm",
    )
    assert.strictEqual(SecretUrl.location("mysql://root@127.0.0.1/test"), "127.0.0.1/test")
    assert.strictEqual(
      SecretUrl.location("https://user:pw@shop.example.com/api/v1/?token=x"),
      "https://shop.example.com",
    )
    assert.isUndefined(SecretUrl.location("not a url"))
  })
})

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-binding-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))
const StoreLayer = Layer.merge(StateStoreSql.layerEmbedded(stateDir), Progress.silent)

/** A memory sink that says which portal it writes to. */
const at = (target: ReturnType<typeof MemorySink.make>, identity: string): Sink.Sink => ({
  ...target.sink,
  connect: (options) => Effect.map(target.sink.connect(options), (c) => ({ ...c, identity })),
})

/** A memory source that says where it is. */
const located = (memory: ReturnType<typeof MemorySource.make>, location: () => string) => {
  const source: Source.Source<MemorySource.MemorySpec> = {
    ...memory.source,
    connect: Effect.map(memory.source.connect, (c) => ({ ...c, location: location() })),
  }
  return Source.stream(source, { table: "companies", key: "id" })
}

layer(StoreLayer, { timeout: 60_000, excludeTestServices: true })("binding in the runner", (it) => {
  it.effect(
    "a dry run records nothing; a run against another portal stops before it writes; a moved source needs acceptSourceChange",
    () =>
      Effect.gen(function* () {
        const memory = MemorySink.make()
        const companies = Array.from({ length: 4 }, (_, i) => ({ id: i + 1, name: `C${i + 1}` }))
        let where = "db:5432/crm"
        const from = located(MemorySource.make("legacy", { companies }), () => where)
        const make = (sink: Sink.Sink) =>
          Pipeline.make({
            name: "bound-1",
            sink,
            entities: {
              company: {
                from,
                to: memory.target("company"),
                map: (r: { name: string }) => ({ title: r.name }),
              },
            },
          })
        const demo = make(at(memory, "memory demo"))
        const store = yield* StateStore

        yield* Runner.run(demo, { dryRun: true })
        assert.isTrue(Option.isNone(yield* store.binding("bound-1")), "a dry run binds nothing")
        const first = yield* Runner.run(demo)
        assert.strictEqual(first.status, "succeeded", first.error)
        const binding = Option.getOrThrow(yield* store.binding("bound-1"))
        assert.strictEqual(binding.target, "memory demo")
        assert.strictEqual(binding.source, "legacy: db:5432/crm")

        const creates = memory.state.calls.create
        const error = yield* Effect.flip(Runner.run(make(at(memory, "memory real"))))
        assert.include(error.message, "memory demo")
        assert.include(error.message, "memory real")
        assert.strictEqual(memory.state.calls.create, creates, "nothing sent")
        const planned = yield* Runner.plan(make(at(memory, "memory real")))
        assert.isTrue(
          planned.sink.notes.some((n) => n.startsWith("a run would stop") && n.includes("memory demo")),
          planned.sink.notes.join("\n"),
        )

        where = "db2:5432/crm"
        const moved = yield* Effect.flip(Runner.run(demo))
        assert.include(moved.message, "legacy was db:5432/crm, is now db2:5432/crm")
        const accepted = yield* Runner.run(demo, { acceptSourceChange: true })
        assert.strictEqual(accepted.status, "succeeded", accepted.error)
        assert.strictEqual(Option.getOrThrow(yield* store.binding("bound-1")).source, "legacy: db2:5432/crm")
      }),
  )
})
