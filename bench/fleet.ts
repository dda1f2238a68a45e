/**
 * A fleet on this machine: W `pipeline worker` processes over P emulated portals (the standard
 * limits, 2 requests/s with a burst of 50, each) and N pipelines (pipeline i writes to portal
 * i mod P), all on one PostgreSQL state store with the run queue (pg-boss) in it.
 *
 *   pnpm bench fleet [--workers 3] [--portals 4] [--pipelines 12] [--minutes 2] [--concurrency 4] [--keep]
 *
 * Every pipeline is scheduled every minute (the cron path) and is also queued once at the start
 * (`run --queue`, so the bench need not wait for a tick); its companies are sized to keep its
 * portal busy for about `--minutes` at the ceiling. Imports are plain (`BITRIX24_PACKING=off`,
 * 20 items a request), so a portal's ceiling is 2 requests/s = 40 items/s. The bench waits for the
 * queued runs to finish and prints, per portal: requests and items, the window from its first to
 * its last request, requests/s and items/s against the ceiling (`burst + rate × window`), and the
 * 503/429 answers (each with its method and time); then the state database's load: transactions
 * committed (`pg_stat_database`) per request the portals received, and while idle (10 s before
 * anything is queued: the workers' polling alone); the shared limiter's grant statements
 * (`rate_buckets` updates) with requests per grant; and the workers' CPU time (Linux `/proc`) per
 * portal at its ceiling. The state database is `b24etl_bench_fleet` on the local PostgreSQL,
 * dropped at the end unless `--keep`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import * as Queue from "@b24etl/cli/Queue"
import type * as Pipeline from "@b24etl/core/Pipeline"
import { Effect, Exit, Scope } from "effect"
import { pg } from "./sources-pg.js"

const { values } = parseArgs({
  options: {
    workers: { type: "string", default: "3" },
    portals: { type: "string", default: "4" },
    pipelines: { type: "string", default: "12" },
    minutes: { type: "string", default: "2" },
    concurrency: { type: "string", default: "4" },
    keep: { type: "boolean", default: false },
  },
})
const W = Number(values.workers)
const P = Number(values.portals)
const N = Number(values.pipelines)
const minutes = Number(values.minutes)
const concurrency = Number(values.concurrency)
const rate = 2
const burst = 50
const itemsPerRequest = 20
const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const adminUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const database = "b24etl_bench_fleet"

// Companies per pipeline: its portal's share of `minutes` at the ceiling (40 items/s).
const perPortal = (p: number) => Array.from({ length: N }, (_, i) => i).filter((i) => i % P === p).length
const companiesOf = (i: number) =>
  Math.ceil((rate * itemsPerRequest * 60 * minutes) / Math.max(1, perPortal(i % P)))

const admin = new pg.Client({ connectionString: adminUrl }) as unknown as {
  connect(): Promise<void>
  query(sql: string, values?: ReadonlyArray<unknown>): Promise<{ rows: Array<Record<string, unknown>> }>
  end(): Promise<void>
}
await admin.connect()
await admin.query(`drop database if exists ${database} with (force)`)
await admin.query(`create database ${database}`)
const url = new URL(adminUrl)
url.pathname = `/${database}`
const stateUrl = url.toString()
const db = new pg.Client({ connectionString: stateUrl }) as unknown as typeof admin
await db.connect()

// The pipelines, as files a worker loads (PIPELINE_DIR).
const dir = mkdtempSync(join(tmpdir(), "b24etl-fleet-"))
mkdirSync(dir, { recursive: true })
const fixture = pathToFileURL(join(root, "test/fixtures/fleetPipeline.ts")).href
const names = Array.from({ length: N }, (_, i) => `fleet-${String(i + 1).padStart(2, "0")}`)
names.forEach((name, i) =>
  writeFileSync(
    join(dir, `${name}.ts`),
    `import { fleetPipeline } from ${JSON.stringify(fixture)}\n` +
      `export default fleetPipeline({ name: ${JSON.stringify(name)}, portal: "P${i % P}", companies: ${companiesOf(i)}, schedule: "* * * * *" })\n`,
  ),
)

const scope = Effect.runSync(Scope.make())
const portals = await Effect.runPromise(
  Effect.forEach(Array.from({ length: P }), () =>
    Emulator.make({ rateLimit: { rate, burst }, requestLogLimit: 1_000_000 }),
  ).pipe(Scope.extend(scope)),
)

const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  NO_COLOR: "1",
  CI: "1",
  PIPELINE_STATE_URL: stateUrl,
  PIPELINE_DIR: dir,
  BITRIX24_PACKING: "off",
  ...Object.fromEntries(portals.map((p, i) => [`FLEET_PORTAL_P${i}_URL`, p.webhookUrl])),
}
const tsxLoader = pathToFileURL(join(root, "node_modules/tsx/dist/loader.mjs")).href
const workers: Array<{ child: ChildProcess; output: string; exited: Promise<number | null> }> = []
for (let w = 0; w < W; w++) {
  const child = spawn(
    process.execPath,
    [
      "--import",
      tsxLoader,
      join(root, "packages/cli/src/bin.ts"),
      "worker",
      "--concurrency",
      String(concurrency),
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  )
  const worker = {
    child,
    output: "",
    exited: new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code))),
  }
  child.stdout!.on("data", (d: Buffer) => (worker.output += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (worker.output += d.toString()))
  workers.push(worker)
}
const stop = async (signal: NodeJS.Signals) => {
  for (const w of workers) w.child.kill(signal)
  return Promise.all(workers.map((w) => w.exited))
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
try {
  // The workers made the queue's schema and the state store's tables once all say they work.
  const started = Date.now()
  while (!workers.every((w) => w.output.includes("worker process"))) {
    if (Date.now() - started > 180_000) throw new Error(`workers did not start:\n${workers[0]!.output}`)
    if (workers.some((w) => w.child.exitCode !== null))
      throw new Error(`a worker ended:\n${workers.map((w) => w.output).join("\n")}`)
    await sleep(200)
  }
  const stat = async () => {
    // Statistics reach pg_stat_* when a backend reports them (at most every second or so).
    await sleep(1_500)
    const xacts = await db.query("select xact_commit::bigint as n from pg_stat_database where datname = $1", [
      database,
    ])
    const grants = await db.query(
      "select coalesce(sum(n_tup_upd + n_tup_ins), 0)::bigint as n from pg_stat_user_tables where relname = 'rate_buckets'",
    )
    return { xacts: Number(xacts.rows[0]!.n), grants: Number(grants.rows[0]!.n) }
  }
  // Idle: the workers poll their queues (one fetch per queue per second each) and renew nothing.
  const idleStart = await stat()
  const idleFrom = Date.now()
  await sleep(10_000)
  const before = await stat()
  const idleXacts = (before.xacts - idleStart.xacts) / ((Date.now() - idleFrom) / 1000)
  // CPU seconds of the worker processes (Linux: utime + stime in clock ticks of 1/100 s).
  const cpu = () =>
    workers.reduce((sum, w) => {
      const fields = readFileSync(`/proc/${w.child.pid}/stat`, "utf8").split(") ")[1]!.split(" ")
      return sum + (Number(fields[11]) + Number(fields[12])) / 100
    }, 0)
  const cpuBefore = cpu()

  // One run of every pipeline queued now, as `run --queue` does.
  const jobs = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const boss = yield* Queue.open(stateUrl, { worker: false })
        return yield* Effect.forEach(names, (name) =>
          Effect.flatMap(
            Effect.promise(() => import(pathToFileURL(join(dir, `${name}.ts`)).href)),
            (module: { default: Pipeline.Pipeline }) => Queue.enqueue(boss, module.default, {}),
          ),
        )
      }),
    ),
  )
  const queuedAt = Date.now()
  console.log(
    `fleet: ${W} workers (${concurrency} runs each at once), ${P} portals (${rate} req/s, burst ${burst}), ${N} pipelines of ${names.map((_, i) => companiesOf(i)).join("/")} companies, plain imports (${itemsPerRequest} items/request), every minute and queued once`,
  )
  for (;;) {
    const { rows } = await db.query(
      `select count(*)::int as done from ${Queue.schema}.job where id = any($1::uuid[]) and state in ('completed', 'failed', 'cancelled')`,
      [jobs],
    )
    if (Number(rows[0]!.done) === jobs.length) break
    if (Date.now() - queuedAt > (minutes * 4 + 5) * 60_000)
      throw new Error(
        `the runs did not finish in time:\n${workers.map((w) => w.output.slice(-2000)).join("\n")}`,
      )
    await sleep(1_000)
  }
  const finishedAt = Date.now()
  const cpuUsed = cpu() - cpuBefore
  const after = await stat()
  const failed = await db.query(
    `select count(*)::int as n from ${Queue.schema}.job where id = any($1::uuid[]) and (state <> 'completed' or output ? 'error')`,
    [jobs],
  )

  console.log(`all queued runs done in ${((finishedAt - queuedAt) / 1000).toFixed(1)} s`)
  console.log("")
  console.log("portal  pipelines  requests   items  window s   req/s  items/s  ceiling req  ratio  503  429")
  let totalRequests = 0
  let totalCeiling = 0
  for (let p = 0; p < P; p++) {
    const portal = portals[p]!
    const log = await Effect.runPromise(portal.requestLog)
    const counters = await Effect.runPromise(portal.counters)
    const items = (await Effect.runPromise(portal.items(4))).length
    const first = log[0]?.at ?? 0
    const last = log[log.length - 1]?.at ?? 0
    const window = Math.max(0.001, (last - first) / 1000)
    const ceiling = burst + rate * window
    totalRequests += counters.requests
    totalCeiling += ceiling
    console.log(
      [
        `P${p}`.padEnd(6),
        String(perPortal(p)).padStart(9),
        String(counters.requests).padStart(9),
        String(items).padStart(7),
        window.toFixed(1).padStart(9),
        (counters.requests / window).toFixed(2).padStart(7),
        (items / window).toFixed(1).padStart(8),
        ceiling.toFixed(0).padStart(12),
        (counters.requests / ceiling).toFixed(2).padStart(6),
        String(counters.status503).padStart(4),
        String(counters.status429).padStart(4),
      ].join(" "),
    )
  }
  // When and on what the portals answered 503: seconds from each portal's first request.
  for (let p = 0; p < P; p++) {
    const log = await Effect.runPromise(portals[p]!.requestLog)
    const first = log[0]?.at ?? 0
    const refused = log.filter((e) => e.status === 503 || e.status === 429)
    if (refused.length > 0)
      console.log(
        `P${p} refused: ${refused.map((e) => `${e.status} ${e.method} at ${((e.at - first) / 1000).toFixed(1)} s`).join(", ")}`,
      )
  }
  console.log(
    `total: ${totalRequests} requests against a ceiling of ${totalCeiling.toFixed(0)}: ${(totalRequests / totalCeiling).toFixed(2)} of it; runs failed or with an error: ${failed.rows[0]!.n}`,
  )
  const xacts = after.xacts - before.xacts
  const grants = after.grants - before.grants
  console.log("")
  console.log(
    `state database: ${xacts} transactions committed (${(xacts / ((finishedAt - queuedAt) / 1000)).toFixed(0)}/s), ${(xacts / Math.max(1, totalRequests)).toFixed(1)} per portal request (state store, run queue polling, locks and limiter together)`,
  )
  console.log(`state database idle (workers polling, nothing queued): ${idleXacts.toFixed(0)} transactions/s`)
  const wall = (finishedAt - queuedAt) / 1000
  console.log(
    `workers' CPU: ${cpuUsed.toFixed(1)} s in ${wall.toFixed(1)} s = ${(cpuUsed / wall).toFixed(2)} cores for ${P} portals at their ceiling (${(cpuUsed / wall / P).toFixed(3)} cores per portal)`,
  )
  console.log(
    `shared limiter: ${grants} grant statements for ${totalRequests} requests (${(totalRequests / Math.max(1, grants)).toFixed(2)} requests per grant; ${(grants / ((finishedAt - queuedAt) / 1000)).toFixed(1)} grants/s)`,
  )
} finally {
  const codes = await stop("SIGTERM")
  if (codes.some((c) => c !== 0)) console.error(`worker exit codes: ${codes.join(", ")}`)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await db.end()
  rmSync(dir, { recursive: true, force: true })
  for (let i = 0; !values.keep && i < 50; i++) {
    try {
      await admin.query(`drop database if exists ${database}`)
      break
    } catch {
      await sleep(100)
    }
  }
  await admin.end()
}
