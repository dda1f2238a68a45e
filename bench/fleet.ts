/**
 * A fleet on this machine: W `pipeline worker` processes over P emulated portals (the standard
 * limits, 2 requests/s with a burst of 50, each) and N pipelines (pipeline i writes to portal
 * i mod P), all on one PostgreSQL state store with the run queue (pg-boss) in it.
 *
 *   pnpm bench fleet [--workers 3] [--portals 4] [--pipelines 12] [--minutes 2] [--concurrency 4]
 *                    [--kill-after 60] [--keep]
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
 *
 * The acceptance scenario of issue 19 on top (`fleet-acceptance.ts` holds the checks):
 * `--kill-after <s>` (0: no kill) SIGKILLs, that many seconds after the runs are queued, the
 * worker holding the most jobs (read from the job locks `job:<id>`, whose owner names the
 * process) and prints the jobs and runs it held. After the queued runs, the bench waits for the
 * minute ticks of the window to be run, stops the workers and prints: per pipeline, the ticks
 * expected, queued, run once, run more than once and missed (from pg-boss's tables and the
 * state store's `runs`); how each of the killed worker's runs was resumed (the dead run
 * `crashed`, the same job completed by another process with a run that `succeeded`); per portal,
 * items per (originator, origin id) and the duplicates; and a verdict, "acceptance: PASS" or
 * "acceptance: FAIL: …", with each criterion's figure.
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
import * as Database from "./database.js"
import * as Acceptance from "./fleet-acceptance.js"

const { values } = parseArgs({
  options: {
    workers: { type: "string", default: "3" },
    portals: { type: "string", default: "4" },
    pipelines: { type: "string", default: "12" },
    minutes: { type: "string", default: "2" },
    concurrency: { type: "string", default: "4" },
    "kill-after": { type: "string", default: "60" },
    keep: { type: "boolean", default: false },
    timeline: { type: "boolean", default: false },
  },
})
const W = Number(values.workers)
const P = Number(values.portals)
const N = Number(values.pipelines)
const minutes = Number(values.minutes)
const concurrency = Number(values.concurrency)
const killAfter = Number(values["kill-after"])
const rate = 2
const burst = 50
const itemsPerRequest = 20
const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const database = "b24etl_bench_fleet"

// Companies per pipeline: its portal's share of `minutes` at the ceiling (40 items/s).
const perPortal = (p: number) => Array.from({ length: N }, (_, i) => i).filter((i) => i % P === p).length
const companiesOf = (i: number) =>
  Math.ceil((rate * itemsPerRequest * 60 * minutes) / Math.max(1, perPortal(i % P)))

const state = await Database.fresh(database)
const stateUrl = state.url
const db = Database.client(stateUrl)
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
let killed: { pid: number; at: number; held: ReadonlyArray<Acceptance.Held> } | undefined
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
  // Idle: the workers poll their queues (one statement a second each) and renew nothing.
  const idleStart = await stat()
  const idleFrom = Date.now()
  await sleep(10_000)
  const before = await stat()
  const idleXacts = (before.xacts - idleStart.xacts) / ((Date.now() - idleFrom) / 1000)
  // CPU seconds of the worker processes (Linux: utime + stime in clock ticks of 1/100 s); a
  // killed worker counts with what it had used when last read.
  const lastCpu = new Map<number, number>()
  const cpu = () =>
    workers.reduce((sum, w) => {
      try {
        const fields = readFileSync(`/proc/${w.child.pid}/stat`, "utf8").split(") ")[1]!.split(" ")
        lastCpu.set(w.child.pid!, (Number(fields[11]) + Number(fields[12])) / 100)
      } catch {
        // Gone (the killed worker): its last reading stands.
      }
      return sum + (lastCpu.get(w.child.pid!) ?? 0)
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
    `fleet: ${W} workers (${concurrency} runs each at once), ${P} portals (${rate} req/s, burst ${burst}), ${N} pipelines of ${names.map((_, i) => companiesOf(i)).join("/")} companies, plain imports (${itemsPerRequest} items/request), every minute and queued once${killAfter > 0 ? `; one worker killed after ${killAfter} s` : ""}`,
  )
  for (;;) {
    if (killAfter > 0 && killed === undefined && Date.now() - queuedAt >= killAfter * 1000) {
      // The worker holding the most jobs now (its job locks name its process), killed at once.
      const held = (await Acceptance.heldJobs(db)).filter((h) => workers.some((w) => w.child.pid === h.pid))
      const pids = [...new Set(held.map((h) => h.pid))].sort(
        (a, b) => held.filter((h) => h.pid === b).length - held.filter((h) => h.pid === a).length || a - b,
      )
      const victim = workers.find((w) => w.child.pid === pids[0])
      if (victim !== undefined) {
        victim.child.kill("SIGKILL")
        const at = Date.now()
        const its = held.filter((h) => h.pid === victim.child.pid)
        killed = { pid: victim.child.pid!, at, held: its }
        console.log(
          `killed: process ${victim.child.pid} (SIGKILL at ${((at - queuedAt) / 1000).toFixed(1)} s) holding ${its.length} job(s): ${its.map((h) => `${h.pipeline} (job ${h.job}, run ${h.run ?? "not started"})`).join(", ")}`,
        )
      }
    }
    const running = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null)
    if (running.length === 0)
      throw new Error(`every worker ended:\n${workers.map((w) => w.output.slice(-2000)).join("\n")}`)
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
  if (values.timeline) {
    // Requests per portal in 20 s slots from the queueing: where a portal sat idle, and when.
    const slot = 20_000
    const slots = Math.ceil((finishedAt - queuedAt) / slot)
    console.log(
      `requests per ${slot / 1000} s from the queueing (the ceiling is ${rate * (slot / 1000)} a slot):`,
    )
    for (let p = 0; p < P; p++) {
      const log = await Effect.runPromise(portals[p]!.requestLog)
      const counts = Array.from({ length: slots }, () => 0)
      for (const e of log) {
        const i = Math.floor((e.at - queuedAt) / slot)
        if (i >= 0 && i < slots) counts[i]!++
      }
      console.log(`P${p} ${counts.map((n) => String(n).padStart(3)).join("")}`)
    }
    workers.forEach((w, i) => writeFileSync(join(tmpdir(), `fleet-worker-${i}.log`), w.output))
    console.log(`the workers' output: ${join(tmpdir(), "fleet-worker-<n>.log")}`)
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

  // The acceptance scenario: the minute ticks up to the end of the queued runs must all be run.
  const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19)
  const lastTick = Math.floor(finishedAt / 60_000) * 60_000
  // Its send-it job comes within a cron check (10 s here), its job in the queue 2 s later.
  await sleep(Math.max(0, lastTick + 30_000 - Date.now()))
  let ticksSettled = false
  for (const until = Date.now() + 300_000; Date.now() < until; await sleep(1_000)) {
    const { rows } = await db.query(
      `select count(*)::int as n from ${Queue.schema}.job where name like 'pipeline.%' and state < 'completed' and created_on < to_timestamp($1::double precision / 1000)`,
      [lastTick + 60_000],
    )
    ticksSettled = Number(rows[0]!.n) === 0
    if (ticksSettled) break
  }
  const ticksDoneAt = Date.now()
  await stop("SIGTERM")
  const scheduled = await db.query(
    `select extract(epoch from min(created_on)) * 1000 as at from ${Queue.schema}.schedule where name like 'pipeline.%'`,
  )
  const scheduledAt = Number(scheduled.rows[0]!.at)
  const ticks = await Acceptance.tickAccounting(db, names, { from: scheduledAt, to: finishedAt })
  const expectedTicks = ticks[0]?.expected ?? 0
  console.log("")
  console.log(
    `ticks: schedules made at ${clock(scheduledAt)} UTC, queued runs done at ${clock(finishedAt)}: ${expectedTicks} minute ticks from ${clock(Math.floor(scheduledAt / 60_000) * 60_000 + 60_000)} to ${clock(lastTick)} per pipeline, ${ticksSettled ? "all their jobs finished" : "jobs still open (gave up waiting)"} at ${clock(ticksDoneAt)}. A pg-boss 10 singleton queue keeps a tick that comes while a run is active queued (it merges none), so each must run once.`,
  )
  console.log(
    "pipeline  expected  queued  run once  run twice+  missed  not sent  earlier tick  queued runs  runs  runs no job has",
  )
  for (const t of ticks)
    console.log(
      [
        t.name.padEnd(8),
        String(t.expected).padStart(9),
        String(t.queued).padStart(7),
        String(t.once).padStart(9),
        String(t.twice + t.earlyTwice).padStart(11),
        String(t.missed).padStart(7),
        String(t.notSent).padStart(9),
        String(t.earlyTicks).padStart(13),
        String(t.queuedRuns).padStart(12),
        String(t.runs).padStart(5),
        ` ${t.unaccounted.length === 0 ? "0" : t.unaccounted.join(", ")}`,
      ].join(" "),
    )
  const sum = (f: (t: (typeof ticks)[number]) => number) => ticks.reduce((n, t) => n + f(t), 0)
  const ticksTwice = sum((t) => t.twice + t.earlyTwice + t.unaccounted.length)
  const ticksMissed = sum((t) => t.missed)
  console.log(
    `ticks: ${sum((t) => t.expected)} expected, ${sum((t) => t.once)} run exactly once, ${ticksTwice} run more than once, ${ticksMissed} missed (${sum((t) => t.notSent)} never sent by cron); ${sum((t) => t.earlyTicks)} ticks of the minute the schedules were made in also ran (not counted)`,
  )

  // The killed worker's runs: each crashed, then its job completed by another worker's run.
  let resumed: ReadonlyArray<Awaited<ReturnType<typeof Acceptance.resumption>>[number]> = []
  console.log("")
  if (killed === undefined)
    console.log(killAfter > 0 ? "killed: nobody (no worker held a job)" : "no worker killed")
  else {
    resumed = await Acceptance.resumption(db, killed.held, killed.pid, killed.at)
    console.log(`killed process ${killed.pid}: ${resumed.length} run(s)`)
    for (const r of resumed)
      console.log(
        `  ${r.pipeline}: run ${r.run ?? "(none started)"} ${r.crashedStatus ?? ""} on process ${killed.pid} -> job ${r.job} ${r.state}, try ${r.tries}, by ${r.worker ?? "nobody"} (started ${r.resumedAfterS?.toFixed(1) ?? "?"} s after the kill): run ${r.newRun ?? "none"} ${r.newStatus ?? ""}${r.resumed ? "" : "  NOT RESUMED"}`,
      )
  }

  // Items per portal: none may be there twice (same originator and origin id).
  console.log("")
  let duplicateItems = 0
  let refused503 = 0
  let refused429 = 0
  let missingItems = 0
  for (let p = 0; p < P; p++) {
    const items = await Effect.runPromise(portals[p]!.items(4))
    const counters = await Effect.runPromise(portals[p]!.counters)
    const { distinct, twice } = Acceptance.duplicates(items)
    const expected = names.reduce((n, _, i) => (i % P === p ? n + companiesOf(i) : n), 0)
    duplicateItems += twice.reduce((n, [, c]) => n + c - 1, 0)
    missingItems += Math.max(0, expected - distinct)
    refused503 += counters.status503
    refused429 += counters.status429
    console.log(
      `P${p}: ${items.length} items, ${distinct} distinct (originator, origin id) of ${expected} companies, ${twice.length} twice${
        twice.length > 0
          ? `: ${twice
              .slice(0, 10)
              .map(([k, n]) => `${k} ×${n}`)
              .join(", ")}`
          : ""
      }; ${counters.requests} requests in all, ${counters.status503} × 503, ${counters.status429} × 429`,
    )
  }

  const ratio = totalRequests / totalCeiling
  const criteria = [
    {
      what: "every tick of every pipeline ran exactly once",
      ok: ticksTwice === 0 && ticksMissed === 0 && expectedTicks > 0,
      figure: `${sum((t) => t.once)} of ${sum((t) => t.expected)} ticks once, ${ticksTwice} more than once, ${ticksMissed} missed`,
    },
    ...(killAfter > 0
      ? [
          {
            what: "the killed worker's runs resumed by another worker",
            ok: killed !== undefined && resumed.length > 0 && resumed.every((r) => r.resumed),
            figure: `${resumed.filter((r) => r.resumed).length} of ${resumed.length} resumed`,
          },
        ]
      : []),
    {
      what: "no duplicate item in any portal",
      ok: duplicateItems === 0 && missingItems === 0,
      figure: `${duplicateItems} duplicates, ${missingItems} companies missing`,
    },
    {
      what: "no answer 503/429 at the portals",
      ok: refused503 + refused429 === 0,
      figure: `${refused503} × 503, ${refused429} × 429`,
    },
    {
      what: "throughput at least 0.9 of the portals' ceilings",
      ok: ratio >= 0.9,
      figure: `${ratio.toFixed(2)} (${totalRequests} of ${totalCeiling.toFixed(0)} requests)`,
    },
    {
      what: "queued runs completed without error",
      ok: Number(failed.rows[0]!.n) === 0,
      figure: `${failed.rows[0]!.n} failed or with an error`,
    },
  ]
  console.log("")
  for (const c of criteria) console.log(`${c.ok ? "ok  " : "FAIL"}  ${c.what}: ${c.figure}`)
  const failing = criteria.filter((c) => !c.ok)
  console.log(
    failing.length === 0
      ? "acceptance: PASS"
      : `acceptance: FAIL: ${failing.map((c) => `${c.what} (${c.figure})`).join("; ")}`,
  )
  if (failing.length > 0) process.exitCode = 1
} finally {
  const codes = (await stop("SIGTERM")).filter((_, i) => workers[i]!.child.pid !== killed?.pid)
  if (codes.some((c) => c !== 0)) console.error(`worker exit codes: ${codes.join(", ")}`)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await db.end()
  rmSync(dir, { recursive: true, force: true })
  await state.done(values.keep)
}
