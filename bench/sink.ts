/**
 * Bitrix24 sink throughput against the emulator on loopback (`pnpm tsx bench/sink.ts [companies] [--full]`).
 *
 * 1. The portal's default limits (2 requests/s, burst 50) and 200 ms latency: N companies created
 *    through the sink's connection at concurrency 4. Printed: items/s, the ceiling the limits allow
 *    over the run's duration ((burst + rate * T) * 20 items / T), their ratio (target >= 0.95) and
 *    the 503 answers (target 0).
 * 2. Limits off and 500 ms latency: items/s at concurrency 1, 2, 4 and 8 (latency hidden by
 *    batches in flight).
 * 3. With `--full`: a whole migration through the runner (see `migration`).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import * as Memory from "@b24etl/connectors/Memory"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import { ref } from "@b24etl/core/Reference"
import * as Runner from "@b24etl/core/Runner"
import type * as Sink from "@b24etl/core/Sink"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { Clock, Effect, Layer } from "effect"

const args = process.argv.slice(2)
const full = args.includes("--full")
const companies = Number(args.find((a) => /^\d+$/.test(a)) ?? 2000)
const latencyCompanies = 400

const batches = (n: number, prefix: string): ReadonlyArray<ReadonlyArray<Sink.SinkItem>> => {
  const out: Array<Array<Sink.SinkItem>> = []
  for (let i = 0; i < n; i++) {
    if (i % 20 === 0) out.push([])
    out[out.length - 1]!.push({
      sourceKey: String(i),
      originId: `${prefix}:${i}`,
      fields: { title: `Company ${i}`, PHONE: Bitrix24.phones(`+1 555 ${String(i).padStart(6, "0")}`) },
    })
  }
  return out
}

/** Creates `n` companies at `concurrency`; answers the seconds it took and the items written. */
const run = (
  emulator: Emulator.Service,
  options: Bitrix24.SinkOptions,
  n: number,
  concurrency: number,
  prefix: string,
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sink = Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), { ...options, concurrency })
      const conn = yield* sink.connect({ originator: "bench", dryRun: false })
      const start = yield* Clock.currentTimeMillis
      const results = yield* Effect.forEach(batches(n, prefix), (b) => conn.create(Bitrix24.company, b), {
        concurrency: conn.concurrency,
      })
      const seconds = ((yield* Clock.currentTimeMillis) - start) / 1000
      const written = results.flat().filter((r) => r._tag === "Written").length
      return { seconds, written }
    }),
  )

const limited = Effect.scoped(
  Effect.gen(function* () {
    const emulator = yield* Emulator.make({ latencyMs: 200 })
    const rate = 2
    const burst = 50
    const { seconds, written } = yield* run(emulator, { rate: "standard" }, companies, 4, "limited")
    const counters = yield* emulator.counters
    const achieved = written / seconds
    const ceiling = ((burst + rate * seconds) * 20) / seconds
    console.log("1) default limits (2/s, burst 50), 200 ms latency, concurrency 4")
    console.log(`   companies written:      ${written} of ${companies} in ${seconds.toFixed(2)} s`)
    console.log(
      `   requests:               ${counters.requests} (${counters.byMethod["crm.item.batchImport"] ?? 0} imports)`,
    )
    console.log(`   achieved:               ${achieved.toFixed(2)} items/s`)
    console.log(`   ceiling over ${seconds.toFixed(1)} s:    ${ceiling.toFixed(2)} items/s`)
    console.log(`   ratio:                  ${(achieved / ceiling).toFixed(3)} (target >= 0.95)`)
    console.log(
      `   503 answers:            ${counters.status503} (target 0); 429 answers: ${counters.status429}`,
    )
  }),
)

const unlimited = Effect.scoped(
  Effect.gen(function* () {
    const emulator = yield* Emulator.make({ latencyMs: 500, rateLimit: { burst: 0 } })
    console.log("2) limits off, 500 ms latency")
    for (const concurrency of [1, 2, 4, 8]) {
      yield* emulator.reset
      const { seconds, written } = yield* run(
        emulator,
        { rate: "unlimited" },
        latencyCompanies,
        concurrency,
        `c${concurrency}`,
      )
      console.log(
        `   concurrency ${concurrency}: ${(written / seconds).toFixed(2)} items/s (${written} companies in ${seconds.toFixed(2)} s)`,
      )
    }
  }),
)

/**
 * 3. (`--full`) The whole migration of the API notes' comparison through the runner: 1,000
 *    companies, 3,000 contacts linked to them, 2,000 deals linked to both, at 2/s, burst 50 and
 *    200 ms latency, with the state in an embedded PGlite store. The official SDK's sequential
 *    script took 125.7 s against a 125 s minimum (0.994) with one 503.
 */
const migration = Effect.scoped(
  Effect.gen(function* () {
    const emulator = yield* Emulator.make({ latencyMs: 200 })
    const dir = mkdtempSync(join(tmpdir(), "b24etl-bench-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const legacy = Memory.source("legacy", {
      companies: Array.from({ length: 1000 }, (_, i) => ({ id: i + 1, name: `Company ${i + 1}` })),
      people: Array.from({ length: 3000 }, (_, i) => ({
        id: i + 1,
        name: `Person ${i + 1}`,
        company_id: (i % 1000) + 1,
      })),
      deals: Array.from({ length: 2000 }, (_, i) => ({
        id: i + 1,
        title: `Deal ${i + 1}`,
        company_id: (i % 1000) + 1,
        person_id: (i % 3000) + 1,
      })),
    })
    const pipeline = Pipeline.make({
      name: "bench-migration",
      sink: Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), { rate: "standard", concurrency: 4 }),
      entities: {
        company: {
          from: legacy.records<{ id: number; name: string }>("companies", { key: "id" }),
          to: Bitrix24.company,
          map: (r) => ({ title: r.name }),
        },
        contact: {
          from: legacy.records<{ id: number; name: string; company_id: number }>("people", { key: "id" }),
          to: Bitrix24.contact,
          references: ["company"],
          map: (r) => ({ name: r.name, companyId: ref("company", r.company_id) }),
        },
        deal: {
          from: legacy.records<{ id: number; title: string; company_id: number; person_id: number }>(
            "deals",
            {
              key: "id",
            },
          ),
          to: Bitrix24.deal,
          references: ["company", "contact"],
          map: (r) => ({
            title: r.title,
            companyId: ref("company", r.company_id),
            contactIds: [ref("contact", r.person_id)],
          }),
        },
      },
    })
    const start = yield* Clock.currentTimeMillis
    const report = yield* Runner.run(pipeline).pipe(
      Effect.provide(Layer.merge(StateStoreSql.layerPglite(dir), Progress.silent)),
    )
    const seconds = ((yield* Clock.currentTimeMillis) - start) / 1000
    const counters = yield* emulator.counters
    const imports = counters.byMethod["crm.item.batchImport"] ?? 0
    const minimum = (300 - 50) / 2
    console.log(
      "3) full migration through the runner: 1,000 companies, 3,000 contacts, 2,000 deals; 2/s, burst 50, 200 ms",
    )
    console.log(
      `   status:                 ${report.status}, ${report.entities.map((e) => `${e.entity} ${e.created}`).join(", ")}`,
    )
    console.log(
      `   duration:               ${seconds.toFixed(1)} s (minimum ${minimum} s; SDK script 125.7 s)`,
    )
    console.log(`   ratio minimum/duration: ${(minimum / seconds).toFixed(3)}`)
    console.log(
      `   requests:               ${counters.requests} (${imports} imports, ${counters.byMethod["crm.item.list"] ?? 0} lists)`,
    )
    console.log(`   503 answers:            ${counters.status503}; 429 answers: ${counters.status429}`)
    const log = (yield* emulator.requestLog).filter((e) => e.method === "crm.item.batchImport")
    const span = (log[log.length - 1]!.at - log[0]!.at) / 1000
    const ideal = (imports - 50) / 2
    console.log(
      `   imports:                first ${((log[0]!.at - start) / 1000).toFixed(1)} s after the start, then ${span.toFixed(1)} s for all ${imports} (ideal ${ideal} s, ratio ${(ideal / span).toFixed(3)})`,
    )
  }),
)

const program = Effect.gen(function* () {
  console.log(`Bitrix24 sink bench: ${companies} companies, then ${latencyCompanies} per concurrency level`)
  yield* limited
  yield* unlimited
  if (full) yield* migration
}).pipe(Effect.timeout("10 minutes"))

Effect.runPromise(program).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
