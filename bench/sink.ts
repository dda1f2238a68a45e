/**
 * The Bitrix24 sink side by side with the vendor's SDK, against the emulator over HTTPS:
 *
 *   pnpm bench sink [--total 240000] [--budget-total 12000] [--slow 4000] [--sdk-total 2000]
 *                   [--costs 0,2,10,50] [--store sqlite|pglite] [--trace file]
 *
 * For each per-item portal cost (0, 2, 10 and 50 ms of the method's execution budget per item), two
 * fresh emulators with the same settings (2 requests/s, burst 50, 200 ms latency, an execution budget
 * of 48 s per 60 s window: the vendor's 480 s per 10 minutes scaled down tenfold, the same 0.8 s per
 * second, so that a run of a few minutes reaches the steady state) take the same migration:
 * companies, contacts linked to them, deals linked to both (1 : 3 : 2). The project gets `--total`
 * items at 0 and 2 ms (enough to pass the burst of 50 packed requests, 50,000 items),
 * `--budget-total` at 10 ms (past the first window's budget) and `--slow` at 50 ms; the SDK script
 * at most `--sdk-total` (it is request-bound at 20 items a request, so its rate settles early; a
 * smaller sample only gives it more of the burst):
 *
 * - the SDK script: `@bitrix24/b24jssdk`, sequential `crm.item.batchImport` by 20, its default
 *   limiter told the portal's budget (48 s per 60 s), links from the ids it got back;
 * - the project: the runner with its state store (the default, SQLite; `--store pglite` for the
 *   other embedded one), the Bitrix24 sink at its defaults (`standard` rate, concurrency 4, packing
 *   `auto`), told the same budget, chunks of 1,000 records.
 *
 * Printed per regime: items/s of each; the binding ceiling in the steady state (the request rate:
 * 2/s x 1,000 items for packed requests of 50 x 20; or the execution budget: 0.8 s per second over
 * the cost of a command of 20 items, when that cost is over the 0.1 s the portal leaves uncounted);
 * the project's ratio to that ceiling over the whole run (which also gets the burst and the first
 * window's budget) and, where the request rate binds, past the burst; its ratio to the SDK script;
 * and the 503/429 answers, nested commands' 429s included (the packing probe not counted). The
 * emulator accounts processing time but does not sleep it.
 *
 * Each emulator runs in a worker thread of its own (`emulator-worker.ts`), for both sides alike: the
 * portal is not on the client's machine, and in this process its CPU (parsing 1,000-item batches,
 * its indexes and request log) took about a tenth of the main thread's busy time at 0 ms per item,
 * time the client measured would otherwise lose to work that is not its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as https from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import * as Memory from "@b24etl/connectors/Memory"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import { ref } from "@b24etl/core/Reference"
import * as Runner from "@b24etl/core/Runner"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { ApiVersion, B24Hook, ParamsFactory } from "@bitrix24/b24jssdk"
import { Clock, Effect, Layer } from "effect"
import * as EmulatorWorker from "./emulator-worker.js"

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}
// Sizes that reach each regime's steady state: past the burst of 50 packed requests (50,000 items)
// at 0 and 2 ms; past the first window's budget (about 4,700 items) at 10 ms; two windows at 50 ms.
const total = Number(arg("total") ?? 240_000)
const budgetTotal = Number(arg("budget-total") ?? 12_000)
const slowTotal = Number(arg("slow") ?? 4_000)
const costsMs = (arg("costs") ?? "0,2,10,50").split(",").map(Number)
/** The SDK script's sample: it is request-bound at 20 items a request, so its rate settles early. */
const sdkTotal = Number(arg("sdk-total") ?? 2_000)
const storeKind = arg("store") ?? "sqlite"
/** A file to write the project's request log to, a line per request (seconds, method, commands, created, status). */
const trace = arg("trace")

const rate = 2
const burst = 50
const latencyMs = 200
const budgetSeconds = 48
const windowSeconds = 60

const emulatorConfig = (costMs: number): Emulator.EmulatorConfig => ({
  https: true,
  latencyMs,
  rateLimit: { rate, burst },
  operatingTime: {
    budgetSeconds,
    windowSeconds,
    bucketSeconds: windowSeconds / 10,
    costPerCallSeconds: 0.005,
    costPerItemSeconds: costMs / 1000,
  },
})

interface Sizes {
  readonly companies: number
  readonly contacts: number
  readonly deals: number
}

const sizesOf = (n: number): Sizes => ({
  companies: Math.round(n / 6),
  contacts: Math.round(n / 2),
  deals: n - Math.round(n / 6) - Math.round(n / 2),
})

const legacyData = (s: Sizes) => ({
  companies: Array.from({ length: s.companies }, (_, i) => ({ id: i + 1, name: `Company ${i + 1}` })),
  people: Array.from({ length: s.contacts }, (_, i) => ({
    id: i + 1,
    name: `Person ${i + 1}`,
    company_id: (i % s.companies) + 1,
  })),
  deals: Array.from({ length: s.deals }, (_, i) => ({
    id: i + 1,
    title: `Deal ${i + 1}`,
    company_id: (i % s.companies) + 1,
    person_id: (i % s.contacts) + 1,
  })),
})

/**
 * 503 and 429 answers, the packing probe (the first `batch` of one import command) not counted.
 * A 429 is counted where it is answered: a whole request's, or a nested command's inside a `batch`
 * (its `result_error`, which the request log's status does not show but the counters do).
 */
const limitAnswers = (emulator: EmulatorWorker.Remote) =>
  Effect.gen(function* () {
    const log = yield* emulator.requestLog
    const counters = yield* emulator.counters
    const probe = log.find((e) => e.method === "batch" && e.commands?.length === 1)
    const counted = log.filter((e) => e !== probe)
    const http429 = log.filter((e) => e.status === 429).length
    return {
      s503: counted.filter((e) => e.status === 503).length,
      s429: counted.filter((e) => e.status === 429).length + (counters.status429 - http429),
    }
  })

/** The SDK script: sequential batchImport by 20, links from the ids it got back. */
const sdkScript = async (emulator: EmulatorWorker.Remote, s: Sizes): Promise<number> => {
  const b24 = B24Hook.fromWebhookUrl(emulator.webhookUrl)
  b24.getHttpClient(ApiVersion.v2).ajaxClient.defaults.httpsAgent = new https.Agent({
    ca: emulator.certificate,
    keepAlive: true,
  })
  await b24.setRestrictionManagerParams({
    ...ParamsFactory.getDefault(),
    operatingLimit: { windowMs: windowSeconds * 1000, limitMs: budgetSeconds * 1000, heavyPercent: 80 },
  })
  const data = legacyData(s)
  let written = 0
  const importAll = async <R>(
    entityTypeId: number,
    rows: ReadonlyArray<R>,
    fields: (r: R) => Record<string, unknown>,
  ): Promise<Array<number | undefined>> => {
    const ids: Array<number | undefined> = []
    for (let i = 0; i < rows.length; i += 20) {
      const chunk = rows.slice(i, i + 20)
      const answer = await b24.actions.v2.call.make<{ items: Array<{ item?: { id: number } }> }>({
        method: "crm.item.batchImport",
        params: { entityTypeId, data: chunk.map(fields) },
      })
      const items: ReadonlyArray<{ item?: { id: number } }> = answer.isSuccess
        ? answer.getData()!.result.items
        : chunk.map(() => ({}))
      for (const item of items) {
        ids.push(item.item?.id)
        if (item.item !== undefined) written++
      }
    }
    return ids
  }
  const companyIds = await importAll(4, data.companies, (c) => ({
    title: c.name,
    originatorId: "sdk",
    originId: `company:${c.id}`,
  }))
  const contactIds = await importAll(3, data.people, (p) => ({
    name: p.name,
    companyId: companyIds[p.company_id - 1],
    originatorId: "sdk",
    originId: `contact:${p.id}`,
  }))
  await importAll(2, data.deals, (d) => ({
    title: d.title,
    companyId: companyIds[d.company_id - 1],
    contactIds: [contactIds[d.person_id - 1]],
    originatorId: "sdk",
    originId: `deal:${d.id}`,
  }))
  return written
}

/**
 * The project: the runner, its state store and the Bitrix24 sink at its defaults. The state store
 * (PGlite, started before the clock runs: it takes seconds on a busy machine) is given.
 */
const projectRun = (emulator: EmulatorWorker.Remote, s: Sizes) =>
  Effect.scoped(
    Effect.gen(function* () {
      const legacy = Memory.source("legacy", legacyData(s))
      const pipeline = Pipeline.make({
        name: "bench-side-by-side",
        sink: Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), {
          rate: "standard",
          ca: emulator.certificate,
          operatingTime: { budgetSeconds },
        }),
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
              { key: "id" },
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
      const report = yield* Runner.run(pipeline, { chunkSize: 1000 })
      if (report.status !== "succeeded") console.log(`   project run: ${report.status} ${report.error ?? ""}`)
      return report.entities.reduce((n, e) => n + e.created, 0)
    }),
  )

const timed = <A, E, R>(task: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const value = yield* task
    const end = yield* Clock.currentTimeMillis
    return { value, seconds: (end - start) / 1000, end }
  })

/**
 * The run past the burst: the portal's leaky bucket replayed over the request log (every request
 * counts, as at the portal); from the first request that found it (nearly) full, the request rate is what
 * the portal allows, so the items created from then to the run's end, over that time, are the
 * steady state the ceiling speaks of. `undefined` when the run never emptied the burst.
 */
/**
 * Places short of full at which the bucket counts as full: the sink's limiter keeps 2 free for
 * requests late on the way, and a request in flight holds one more.
 */
const nearlyFull = 5

const pastBurst = (log: ReadonlyArray<Emulator.RequestLogEntry>, endMs: number) => {
  const sorted = [...log].sort((a, b) => a.at - b.at)
  let level = 0
  let last = sorted[0]?.at ?? 0
  let fullAt: number | undefined
  for (const e of sorted) {
    level = Math.max(0, level - ((e.at - last) / 1000) * rate) + 1
    last = e.at
    if (fullAt === undefined && level >= burst - nearlyFull) fullAt = e.at
  }
  return after(sorted, fullAt, endMs)
}

const after = (sorted: ReadonlyArray<Emulator.RequestLogEntry>, from: number | undefined, endMs: number) => {
  if (from === undefined || endMs <= from) return undefined
  const items = sorted.filter((e) => e.at > from).reduce((n, e) => n + (e.created ?? 0), 0)
  return { items, seconds: (endMs - from) / 1000, rate: (items * 1000) / (endMs - from) }
}

const regime = (costMs: number) =>
  Effect.gen(function* () {
    const n = costMs >= 50 ? slowTotal : costMs >= 10 ? budgetTotal : total
    const s = sizesOf(n)
    const sdkEmulator = yield* EmulatorWorker.start(emulatorConfig(costMs))
    const sdkSizes = sizesOf(Math.min(n, sdkTotal))
    const sdk = yield* timed(Effect.promise(() => sdkScript(sdkEmulator, sdkSizes)))
    const sdkLimits = yield* limitAnswers(sdkEmulator)
    const ownEmulator = yield* EmulatorWorker.start(emulatorConfig(costMs))
    const dir = mkdtempSync(join(tmpdir(), "b24etl-bench-sink-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const stateLayer =
      storeKind === "pglite" ? StateStoreSql.layerPglite(dir) : StateStoreSql.layerSqlite(dir)
    const store = yield* Layer.build(Layer.merge(stateLayer, Progress.silent))
    const own = yield* timed(projectRun(ownEmulator, s)).pipe(Effect.provide(store))
    const ownLimits = yield* limitAnswers(ownEmulator)
    const ownCounters = yield* ownEmulator.counters
    const sdkRate = sdk.value / sdk.seconds
    const ownRate = own.value / own.seconds
    const ownLog = yield* ownEmulator.requestLog
    if (trace !== undefined) {
      const first = ownLog[0]?.at ?? 0
      writeFileSync(
        `${trace}.${costMs}ms.tsv`,
        ownLog
          .map((e) =>
            [
              ((e.at - first) / 1000).toFixed(2),
              e.method,
              e.commands?.length ?? 0,
              e.created ?? 0,
              e.status,
            ].join("\t"),
          )
          .join("\n"),
      )
    }
    // The steady state: 2 requests/s of 50 x 20 items, or 0.8 s of portal time per second. A command
    // of 20 items costs 20 x cost + 5 ms, and one of 0.1 s or less is not charged (the vendor's
    // limits page), so the budget binds only above that. The burst (50 requests at once, 50,000
    // items packed) and the first window's whole budget come on top: the "past" figures leave them out.
    const commandSeconds = 20 * (costMs / 1000) + 0.005
    const requestCeiling = rate * 1000
    const budgetCeiling = commandSeconds <= 0.1 ? Number.POSITIVE_INFINITY : 0.8 / (commandSeconds / 20)
    const ceiling = Math.min(requestCeiling, budgetCeiling)
    const byBudget = budgetCeiling < requestCeiling
    const binding = byBudget
      ? `execution budget, 0.8 s/s over ${commandSeconds.toFixed(3)} s per command of 20`
      : `request rate, 2/s x 50 commands x 20 items${Number.isFinite(0.8 / (costMs / 1000)) ? `; commands of ${commandSeconds.toFixed(3)} s are not charged` : ""}`
    const sdkCeiling = Math.min(((burst + rate * sdk.seconds) * 20) / sdk.seconds, budgetCeiling)
    const packed = ownLog.filter(
      (e) => e.method === "batch" && e.commands?.includes("crm.item.batchImport") === true,
    )
    console.log(
      `\n${costMs} ms per item (${n} items: ${s.companies} companies, ${s.contacts} contacts, ${s.deals} deals)`,
    )
    console.log(
      `   SDK script:  ${sdk.value} items in ${sdk.seconds.toFixed(1)} s = ${sdkRate.toFixed(1)} items/s (its own ceiling at 20 per request: ${sdkCeiling.toFixed(1)}); 503: ${sdkLimits.s503}, 429: ${sdkLimits.s429}`,
    )
    console.log(
      `   project:     ${own.value} items in ${own.seconds.toFixed(1)} s = ${ownRate.toFixed(1)} items/s; 503: ${ownLimits.s503}, 429: ${ownLimits.s429}; ${packed.length} packed requests, ${ownCounters.byMethod["crm.item.batchImport"] ?? 0} plain`,
    )
    const steady = pastBurst(ownLog, own.end)
    console.log(`   ceiling:     ${ceiling.toFixed(1)} items/s (${binding}), the steady state`)
    console.log(
      byBudget
        ? `   first window: its budget of ${budgetSeconds} s holds ${Math.floor(budgetSeconds / commandSeconds) * 20} items at this cost, on top of the ceiling in a run this long`
        : steady === undefined
          ? "   past burst:  never (the run ended before the portal's bucket of 50 requests filled)"
          : `   past burst:  ${steady.items} items in the last ${steady.seconds.toFixed(1)} s = ${steady.rate.toFixed(1)} items/s, ${(steady.rate / ceiling).toFixed(3)} of the ceiling`,
    )
    console.log(
      `   ratios:      project / ceiling ${(ownRate / ceiling).toFixed(3)} (whole run, burst included), project / SDK ${(ownRate / sdkRate).toFixed(2)}`,
    )
  }).pipe(Effect.scoped)

const program = Effect.gen(function* () {
  console.log(
    `Bitrix24 sink vs @bitrix24/b24jssdk: ${rate} req/s, burst ${burst}, ${latencyMs} ms latency, budget ${budgetSeconds} s per ${windowSeconds} s window (one machine, shared: figures vary with its load)`,
  )
  for (const c of costsMs) yield* regime(c)
})

Effect.runPromise(program).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
