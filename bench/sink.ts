/**
 * Bitrix24 sink throughput against the emulator on loopback (`pnpm tsx bench/sink.ts [companies]`).
 *
 * 1. The portal's default limits (2 requests/s, burst 50) and 200 ms latency: N companies created
 *    through the sink's connection at concurrency 4. Printed: items/s, the ceiling the limits allow
 *    over the run's duration ((burst + rate * T) * 20 items / T), their ratio (target >= 0.95) and
 *    the 503 answers (target 0).
 * 2. Limits off and 500 ms latency: items/s at concurrency 1, 2, 4 and 8 (latency hidden by
 *    batches in flight).
 */
import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import type * as Sink from "@b24etl/core/Sink"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { Clock, Effect } from "effect"

const companies = Number(process.argv[2] ?? 2000)
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

const program = Effect.gen(function* () {
  console.log(`Bitrix24 sink bench: ${companies} companies, then ${latencyCompanies} per concurrency level`)
  yield* limited
  yield* unlimited
}).pipe(Effect.timeout("10 minutes"))

Effect.runPromise(program).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
