/**
 * `pipeline worker` on pg-boss, as real processes over one PostgreSQL state store and emulated
 * portals over HTTP: cron ticks run once across workers, a worker killed mid-run has its run
 * resumed by another, `run --queue` hands a run to the workers and `status` follows it.
 */
import { hostname } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"
import { waitFor } from "./support/wait.js"

const pipelines = join(Cli.root, "test/fixtures/workers")

/** Items of one portal by (originator, origin id): none may be there twice. */
const duplicates = (items: ReadonlyArray<Record<string, unknown>>) => {
  const seen = new Set<string>()
  const twice: Array<string> = []
  for (const item of items) {
    const key = `${String(item.originatorId)}/${String(item.originId)}`
    if (seen.has(key)) twice.push(key)
    seen.add(key)
  }
  return twice
}

describe("pipeline worker: several processes, one PostgreSQL state store", () => {
  it.live(
    "every cron tick of every pipeline runs exactly once across three workers; portals see no duplicate and no 503/429",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_worker19_ticks")
          // The standard limits at both portals: the workers must share each portal's bucket.
          const a = yield* Legacy.portal({ rateLimit: { rate: 2, burst: 50 }, latencyMs: 20 })
          const b = yield* Legacy.portal({ rateLimit: { rate: 2, burst: 50 }, latencyMs: 20 })
          const env = {
            PIPELINE_STATE_URL: state.url,
            PIPELINE_DIR: pipelines,
            FLEET_PORTAL_A_URL: a.webhookUrl,
            FLEET_PORTAL_B_URL: b.webhookUrl,
            BITRIX24_PACKING: "off",
          }
          const names = ["tick-a1", "tick-a2", "tick-b1", "tick-b2"]
          const workers = [0, 1, 2].map(() =>
            Cli.start(["worker", "--pipelines", names.join(","), "--concurrency", "2"], env),
          )
          yield* Effect.addFinalizer(() => Effect.sync(() => workers.forEach((w) => w.child.kill("SIGKILL"))))
          const output = () => workers.map((w, i) => `--- worker ${i}\n${w.output()}`).join("\n")
          // Two ticks of every pipeline done (the schedule is every minute).
          yield* waitFor(
            "two finished ticks of every pipeline",
            async () => {
              // Before a worker made pg-boss's schema the query fails: not yet.
              const rows = await Effect.runPromise(
                state.query(
                  "select name, count(*)::int as n from pgboss.job where state = 'completed' and name like 'pipeline.tick-%' group by name",
                ),
              ).catch(() => [])
              return rows.length === names.length && rows.every((r) => Number(r.n) >= 2)
            },
            output,
            200_000,
          )
          for (const w of workers) w.child.kill("SIGTERM")
          const done = yield* Effect.promise(() => Promise.all(workers.map((w) => w.done)))
          for (const d of done) assert.strictEqual(d.code, 0, d.stdout + d.stderr)

          for (const name of names) {
            const jobs = yield* state.query(
              `select state::text as state, extract(epoch from date_trunc('minute', created_on))::bigint as minute, data
               from pgboss.job where name = 'pipeline.${name}' order by created_on`,
            )
            const finished = jobs.filter((j) => j.state === "completed")
            // One job per tick: no minute twice, and none skipped between the first and the last.
            const minutes = finished.map((j) => Number(j.minute))
            assert.strictEqual(new Set(minutes).size, minutes.length, `${name}: ${JSON.stringify(jobs)}`)
            assert.strictEqual(
              (Math.max(...minutes) - Math.min(...minutes)) / 60 + 1,
              minutes.length,
              `${name}: a tick without a run: ${JSON.stringify(jobs)}`,
            )
            assert.isTrue(
              finished.every((j) => (j.data as { cron?: string }).cron === "* * * * *"),
              JSON.stringify(finished),
            )
            // Each finished job is one run, and every run a job's.
            const runs = yield* state.query(`select status from runs where pipeline = '${name}'`)
            assert.strictEqual(runs.length, finished.length, `${name}: runs ${JSON.stringify(runs)}`)
            assert.isTrue(
              runs.every((r) => r.status === "succeeded"),
              JSON.stringify(runs),
            )
          }
          for (const [portal, label] of [
            [a, "A"],
            [b, "B"],
          ] as const) {
            const items = yield* portal.items(4)
            assert.strictEqual(items.length, 80, `portal ${label}`)
            assert.deepStrictEqual(duplicates(items), [], `portal ${label}`)
            const counters = yield* portal.counters
            assert.strictEqual(counters.status503, 0, `portal ${label}: ${JSON.stringify(counters.byStatus)}`)
            assert.strictEqual(counters.status429, 0, `portal ${label}`)
          }
          // The ticks were spread over the workers' slots, each logged with the job it took.
          const took = (output().match(/: took job /g) ?? []).length
          const finishedJobs = yield* state.query(
            "select count(*)::int as n from pgboss.job where state = 'completed' and name like 'pipeline.tick-%'",
          )
          assert.strictEqual(took, Number(finishedJobs[0]!.n), output())
        }),
      ),
    300_000,
  )

  it.live(
    "run --queue hands a run to a worker; status shows it queued, running on that worker, finished; a worker killed mid-run has it resumed by another, no item twice",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_worker19_takeover")
          const portal = yield* Legacy.portal({ rateLimit: { rate: 2, burst: 50 }, latencyMs: 20 })
          const env = {
            PIPELINE_STATE_URL: state.url,
            PIPELINE_DIR: pipelines,
            FLEET_PORTAL_A_URL: portal.webhookUrl,
            // 300 companies, 150 ms each, written 50 at a time as plain imports: a run of ~45 s,
            // long enough for a `status` process to start on a busy machine while it goes.
            FLEET_DELAY_MS: "150",
            BITRIX24_PACKING: "off",
          }
          const status = () =>
            Effect.promise(async () => {
              const r = await Cli.start(["status", "slow", "--json"], env).done
              assert.strictEqual(r.code, 0, r.stdout + r.stderr)
              return JSON.parse(r.stdout) as {
                queue: Array<{
                  job: string
                  state: string
                  worker: string | null
                  outcome: string | null
                  tries: number
                }>
                runs: Array<{ status: string }>
              }
            })

          // Without a PostgreSQL store there is no queue to hand the run to.
          const refused = yield* Effect.promise(
            () =>
              Cli.start(["run", "slow", "--queue", "--state", join(Cli.root, ".pipeline/never")], env).done,
          )
          assert.strictEqual(refused.code, 1)
          assert.include(refused.stderr, "run --queue needs a PostgreSQL state store")

          const queued = yield* Effect.promise(
            () => Cli.start(["run", "slow", "--queue", "--json"], env).done,
          )
          assert.strictEqual(queued.code, 0, queued.stdout + queued.stderr)
          const job = (JSON.parse(queued.stdout) as { job: string }).job
          const before = yield* status()
          assert.deepStrictEqual(
            before.queue.map((j) => [j.job, j.state, j.worker]),
            [[job, "queued", null]],
          )

          const first = Cli.start(["worker", "--pipelines", "slow"], env)
          let second: ReturnType<typeof Cli.start> | undefined
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => [first, second].forEach((w) => w?.child.kill("SIGKILL"))),
          )
          const output = () => `--- first\n${first.output()}\n--- second\n${second?.output() ?? ""}`
          yield* waitFor(
            "the first worker to take the job",
            () => first.output().includes(`took job ${job}`),
            output,
            60_000,
          )
          const running = yield* status()
          assert.strictEqual(running.queue[0]?.state, "running")
          assert.strictEqual(running.queue[0]?.worker, `process ${first.child.pid} on host ${hostname()}`)
          // Mid-run: some companies written, not all.
          yield* waitFor(
            "the first companies in the portal",
            async () => (await Effect.runPromise(portal.items(4))).length >= 50,
            output,
            60_000,
          )
          const written = (yield* portal.items(4)).length
          assert.isBelow(written, 300, "the run should still be going when killed")
          first.child.kill("SIGKILL")
          yield* Effect.promise(() => first.done)

          second = Cli.start(["worker", "--pipelines", "slow"], env)
          yield* waitFor(
            "the second worker to finish the run",
            () => /slow: job \S+ run \S+ succeeded/.test(second!.output()),
            output,
            180_000,
          )
          const out = second.output()
          assert.include(out, `job ${job} taken back from process ${first.child.pid} on host ${hostname()}`)
          assert.match(out, new RegExp(`took job ${job} \\(queued, resumed: try 2\\)`))

          const items = yield* portal.items(4)
          assert.strictEqual(items.length, 300)
          assert.deepStrictEqual(duplicates(items), [])
          const counters = yield* portal.counters
          assert.strictEqual(counters.status503, 0, JSON.stringify(counters.byStatus))
          assert.strictEqual(counters.status429, 0)

          const after = yield* status()
          assert.strictEqual(after.queue.length, 1, JSON.stringify(after.queue))
          assert.strictEqual(after.queue[0]!.state, "finished")
          assert.strictEqual(after.queue[0]!.tries, 2)
          assert.include(
            after.queue[0]!.outcome ?? "",
            `succeeded (process ${second.child.pid} on host ${hostname()})`,
          )
          // The killed run is closed as crashed; the resumed one finished its work.
          assert.deepStrictEqual(
            after.runs.map((r) => r.status),
            ["succeeded", "crashed"],
          )

          second.child.kill("SIGTERM")
          const stopped = yield* Effect.promise(() => second!.done)
          assert.strictEqual(stopped.code, 0, stopped.stdout + stopped.stderr)
        }),
      ),
    420_000,
  )
})
