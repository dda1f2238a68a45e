import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, TestClock } from "effect"
import { afterAll } from "vitest"
import * as Pipeline from "../src/Pipeline.js"
import * as Progress from "../src/Progress.js"
import type { RunReport } from "../src/Report.js"
import * as Runner from "../src/Runner.js"
import * as Scheduler from "../src/Scheduler.js"
import { StateStore } from "../src/StateStore.js"
import * as StateStoreSql from "../src/StateStoreSql.js"
import * as MemorySink from "./fixtures/MemorySink.js"
import * as MemorySource from "./fixtures/MemorySource.js"

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-scheduler-run-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))

layer(Layer.merge(StateStoreSql.layerEmbedded(stateDir), Progress.silent), { timeout: 120_000 })(
  "Scheduler with the runner (TestClock)",
  (it) => {
    it.effect(
      "SIGTERM in the middle of a scheduled run leaves a consistent checkpoint and a released lock",
      () =>
        Effect.gen(function* () {
          const rows = Array.from({ length: 40 }, (_, i) => ({
            id: i + 1,
            name: `Company ${i + 1}`,
            updated: 1000 + i,
          }))
          const source = MemorySource.make("legacy", { companies: rows })
          const target = MemorySink.make()
          const pipeline = Pipeline.make({
            name: "sigterm-sync",
            sink: target.sink,
            schedule: "*/15 * * * *",
            entities: {
              company: {
                from: source.table("companies", { key: "id", cursor: "updated" }),
                to: target.target("company"),
                map: (r: { name: string }) => ({ title: r.name }),
              },
            },
          })
          const sigterm = yield* Deferred.make<void>()
          // The signal arrives while the run is writing its third batch.
          target.state.onCreate = () =>
            target.state.calls.create === 2
              ? Deferred.succeed(sigterm, undefined).pipe(Effect.asVoid)
              : Effect.void
          const reports: Array<RunReport> = []
          const store = yield* StateStore
          const run = (p: Pipeline.Pipeline, stop: Effect.Effect<void>, tick: Date) =>
            Runner.run(p, { stop, tick, chunkSize: 5 }).pipe(
              Effect.tap((r) => Effect.sync(() => reports.push(r))),
              Effect.provideService(StateStore, store),
              Effect.provide(Progress.silent),
            )
          const serving = yield* Effect.fork(
            Scheduler.serve({ pipelines: [pipeline], run, stop: Deferred.await(sigterm) }),
          )
          yield* TestClock.adjust("15 minutes")
          yield* Fiber.join(serving)

          assert.strictEqual(reports.length, 1)
          assert.strictEqual(reports[0]!.status, "interrupted")
          // The lock is released: another owner takes it at once.
          assert.isTrue(yield* store.acquireLock("pipeline:sigterm-sync", "someone-else", 1_000))
          yield* store.releaseLock("pipeline:sigterm-sync", "someone-else")
          // Nothing is left pending, and everything up to the checkpoint is in the id map.
          assert.deepStrictEqual(yield* store.pending("sigterm-sync", "company"), [])
          const checkpoint = Option.getOrThrow(yield* store.checkpoint("sigterm-sync", "company")) as [
            number,
            number,
          ]
          const upTo = rows.filter((r) => r.updated <= checkpoint[0]).map((r) => String(r.id))
          const mapped = yield* store.lookup("sigterm-sync", "company", upTo)
          assert.strictEqual(mapped.size, upTo.length)
          assert.isBelow(upTo.length, rows.length)

          // The next run resumes after the checkpoint and completes without duplicates.
          target.state.onCreate = () => Effect.void
          const next = yield* Runner.run(pipeline).pipe(
            Effect.provideService(StateStore, store),
            Effect.provide(Progress.silent),
          )
          assert.strictEqual(next.status, "succeeded")
          const origins = [...target.items("company").values()].map((i) => i.originId)
          assert.strictEqual(origins.length, 40)
          assert.strictEqual(new Set(origins).size, 40)
        }),
    )
  },
)
