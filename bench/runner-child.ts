/**
 * One measurement of `bench/runner.ts`, in its own process so each starts from a fresh heap (and
 * can run under `--cpu-prof`):
 *
 *   node --import tsx bench/runner-child.ts <run|source|lookup> <rows> <state url> <pipeline>
 *
 * - `run`: `Runner.run` of the pipeline (Memory source of <rows> rows -> in-memory sink) on the
 *   state store at <state url>; the first run creates, a later one finds every record unchanged.
 * - `source`: drains the same Memory source stream through `connection.read`, touching every record.
 * - `lookup`: `store.lookup(pipeline, "company", keys)` for all <rows> keys in chunks of 500.
 *
 * Rows are generated before the clock starts. Prints one JSON line: { rows, seconds, counters,
 * gc: { minorMs, majorMs, minor, major }, peakRssMb }.
 *
 * With `RUNNER_BENCH_PROFILE=<file>` (and `--enable-source-maps`, so tsx's inline maps lead back
 * to the TypeScript), the V8 CPU profiler samples the timed part only, and <file> receives the
 * self time per function as JSON: [{ name, where, code, hits }], plus the sample count.
 */
import { readFileSync, writeFileSync } from "node:fs"
import * as inspector from "node:inspector/promises"
import { findSourceMap } from "node:module"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import * as Memory from "@b24etl/connectors/Memory"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import * as Runner from "@b24etl/core/Runner"
import type * as Source from "@b24etl/core/Source"
import { StateStore } from "@b24etl/core/StateStore"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { Context, Effect, Layer, Stream } from "effect"
import * as RunnerSink from "./runner-sink.js"
import { pg } from "./sources-pg.js"

const [mode, rowsText, url, pipelineName] = process.argv.slice(2)
const rows = Number(rowsText)
const LOOKUP_CHUNK = 500

export const drivers: StateStoreSql.Drivers = {
  postgres: (u) => new pg.Pool({ connectionString: u, max: 8 }),
}

type Row = {
  readonly id: number
  readonly name: string
  readonly email: string
  readonly amount: number
  readonly active: boolean
  readonly updated_at: Date
}

const data: Array<Row> = Array.from({ length: rows }, (_, i) => ({
  id: i + 1,
  name: `Company ${i + 1}`,
  email: `contact${i + 1}@example.com`,
  amount: ((i + 1) % 100_000) / 100,
  active: (i + 1) % 3 === 0,
  updated_at: new Date(Date.UTC(2024, 0, 1) + (i + 1) * 1000),
}))
const legacy = Memory.source("legacy", { companies: data })
const companies = legacy.records<Row>("companies", { key: "id" })
const sink = RunnerSink.make()

const pipeline = Pipeline.make({
  name: pipelineName!,
  sink: sink.sink,
  entities: {
    company: Pipeline.entity({
      from: companies,
      to: RunnerSink.target,
      map: (r: Row) => ({
        title: r.name,
        EMAIL: r.email,
        OPPORTUNITY: r.amount,
        ACTIVE: r.active ? "Y" : "N",
        UPDATED: r.updated_at,
      }),
    }),
  },
})

// GC pauses, by kind, while the clock runs (entries arrive late, so they are kept and filtered by time).
const gcEntries: Array<{ readonly start: number; readonly duration: number; readonly kind: number }> = []
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0
    gcEntries.push({ start: entry.startTime, duration: entry.duration, kind })
  }
})
observer.observe({ entryTypes: ["gc"] })
let peakRss = process.memoryUsage.rss()
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
}, 20)

let window = { start: 0, end: 0 }

const profileFile = process.env.RUNNER_BENCH_PROFILE
const session = profileFile ? new inspector.Session() : undefined
const startProfile = async () => {
  if (!session) return
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.setSamplingInterval", { interval: 200 })
  await session.post("Profiler.start")
}
interface ProfileNode {
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly hitCount?: number
}
/** Self time per function, positions mapped back to the TypeScript through tsx's source maps. */
const stopProfile = async () => {
  if (!session) return
  const { profile } = (await session.post("Profiler.stop")) as {
    profile: { nodes: ReadonlyArray<ProfileNode> }
  }
  session.disconnect()
  const sources = new Map<string, ReadonlyArray<string>>()
  const lineOf = (file: string, line: number) => {
    if (!sources.has(file)) {
      try {
        sources.set(file, readFileSync(file, "utf8").split("\n"))
      } catch {
        sources.set(file, [])
      }
    }
    return (sources.get(file)![line] ?? "").trim().slice(0, 70)
  }
  const byFunction = new Map<string, { name: string; where: string; code: string; hits: number }>()
  let samples = 0
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0
    samples += hits
    if (hits === 0) continue
    const { functionName, url, lineNumber, columnNumber } = node.callFrame
    let where = url
    let code = ""
    const map = url.startsWith("file:") ? findSourceMap(fileURLToPath(url)) : undefined
    const entry = map?.findEntry(lineNumber, columnNumber) as
      | { originalSource?: string; originalLine?: number }
      | undefined
    if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
      const file = entry.originalSource.startsWith("file:")
        ? fileURLToPath(entry.originalSource)
        : entry.originalSource
      where = `${file}:${entry.originalLine + 1}`
      code = lineOf(file, entry.originalLine)
    } else if (url !== "") where = `${url}:${lineNumber + 1}`
    where = where
      .replace(/^file:\/\//, "")
      .replace(/.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "")
      .replace(/.*\/work\/main\//, "")
    const key = `${functionName}|${where}`
    const f = byFunction.get(key) ?? { name: functionName || "(anonymous)", where, code, hits: 0 }
    f.hits += hits
    byFunction.set(key, f)
  }
  writeFileSync(profileFile!, JSON.stringify({ samples, functions: [...byFunction.values()] }))
}

/** Keeps the JIT from dropping the reads. */
let checksum = 0

/** Times `body` after `setup` (untimed). */
const timed = <A, S, E1, E2, R>(setup: Effect.Effect<S, E1, R>, body: (s: S) => Effect.Effect<A, E2, R>) =>
  Effect.gen(function* () {
    const s = yield* setup
    yield* Effect.promise(() => startProfile())
    const start = performance.now()
    const a = yield* body(s)
    const end = performance.now()
    yield* Effect.promise(() => stopProfile())
    window = { start, end }
    return { a, seconds: (end - start) / 1000 }
  })

const storeLayer = StateStoreSql.layerFromUrl(url!, drivers)

const measure = Effect.scoped(
  Effect.gen(function* () {
    switch (mode) {
      case "run": {
        const { a: report, seconds } = yield* timed(
          Layer.build(Layer.merge(storeLayer, Progress.silent)),
          (context) => Runner.run(pipeline).pipe(Effect.provide(context)),
        )
        if (report.status !== "succeeded") throw new Error(`run ${report.status}: ${report.error}`)
        const { durationMs: _, entity: __, target: ___, ...counters } = report.entities[0]!
        return { rows: report.entities[0]!.read, seconds, counters, sinkCalls: sink.calls }
      }
      case "source": {
        const { a: n, seconds } = yield* timed(Effect.succeed(undefined), () =>
          Effect.gen(function* () {
            const connection = yield* companies.source.connect
            let n = 0
            // `mapChunks` + `runDrain`, not `runForEachChunk`: see `sources-child.ts`.
            yield* connection.read(companies.spec, {}).pipe(
              Stream.mapChunks((chunk) => {
                for (const record of chunk as Iterable<Source.SourceRecord>) {
                  checksum += record.key.length + (record.data.name as string).length
                  n++
                }
                return chunk
              }),
              Stream.runDrain,
            )
            return n
          }),
        )
        return { rows: n, seconds, counters: {} }
      }
      case "lookup": {
        const keys = data.map((r) => String(r.id))
        const { a: found, seconds } = yield* timed(
          Effect.map(Layer.build(storeLayer), (context) => Context.get(context, StateStore)),
          (store) =>
            Effect.gen(function* () {
              let found = 0
              for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
                const map = yield* store.lookup(pipelineName!, "company", keys.slice(i, i + LOOKUP_CHUNK))
                found += map.size
              }
              return found
            }),
        )
        return { rows: keys.length, seconds, counters: { found } }
      }
      default:
        throw new Error(`unknown mode ${mode}`)
    }
  }),
)

const result = await Effect.runPromise(measure)
clearInterval(sampler)
// Let the observer deliver the last entries.
await new Promise((resolve) => setTimeout(resolve, 50))
observer.disconnect()
const gc = { minorMs: 0, majorMs: 0, minor: 0, major: 0 }
for (const e of gcEntries) {
  if (e.start < window.start || e.start > window.end) continue
  if (e.kind === constants.NODE_PERFORMANCE_GC_MINOR) {
    gc.minor++
    gc.minorMs += e.duration
  } else if (
    e.kind === constants.NODE_PERFORMANCE_GC_MAJOR ||
    e.kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL
  ) {
    gc.major++
    gc.majorMs += e.duration
  }
}
gc.minorMs = Math.round(gc.minorMs)
gc.majorMs = Math.round(gc.majorMs)
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10
process.stdout.write(
  `${JSON.stringify({ ...result, gc, peakRssMb: mb(peakRss), checksum: checksum >= 0 })}\n`,
)
