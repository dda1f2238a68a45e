/**
 * The checks of issue 19's acceptance scenario for `bench/fleet.ts`, read from the state database
 * after the run: pg-boss's tables (schema `pgboss`: `job`, and `archive` where pg-boss moves
 * finished jobs after 12 hours) and the state store's `runs` and `locks`.
 *
 * What "every tick runs exactly once" means on pg-boss 10.4 (read in its `timekeeper.js` and
 * `plans.js`): the timekeeper of one worker at a time (`cron_on`, every 10 s here) sends, for
 * each schedule whose last cron time is less than 60 s ago, a job to its `__pgboss__send-it`
 * queue with `singletonKey` = the pipeline's queue and `singletonSeconds: 60`; a unique index on
 * (name, singleton_on, singleton_key) lets one such job exist per schedule and minute, so a tick
 * is never sent twice. That job becomes one job in the pipeline's queue. The pipeline's queue is
 * `singleton`: a unique index on (name) over *active* jobs only, so two runs never overlap, but
 * queued (`created`) jobs are not merged: a tick that comes while the previous run is active waits
 * in the queue and runs after it (the `short` and `stately` policies would merge it; `singleton`
 * does not). So under `singleton` no tick may legitimately be coalesced: exactly once is one job
 * in the pipeline's queue per minute tick, completed once with a run, and no run besides those of
 * the jobs (a job taken back from a dead worker is one tick: its dead run `crashed`, its next try
 * completes it). A tick is missed when the timekeeper checked no time within its minute (no
 * `send-it` job), or its job never ran.
 */
import * as Queue from "@b24etl/cli/Queue"

export interface Db {
  query(sql: string, values?: ReadonlyArray<unknown>): Promise<{ rows: Array<Record<string, unknown>> }>
}

/** The jobs of a pipeline queue, finished or not, wherever pg-boss keeps them. */
interface JobRow {
  readonly id: string
  readonly queue: string
  readonly state: string
  readonly cron: boolean
  /** Epoch milliseconds. */
  readonly createdOn: number
  readonly startedOn: number | null
  readonly retryCount: number
  readonly output: Record<string, unknown> | null
}

const jobs = async (db: Db): Promise<ReadonlyArray<JobRow>> => {
  const columns = `id::text as id, name, state::text as state, data, output, retry_count,
    extract(epoch from created_on) * 1000 as created_on, extract(epoch from started_on) * 1000 as started_on`
  const { rows } = await db.query(
    `select ${columns} from ${Queue.schema}.job where name like 'pipeline.%'
     union all select ${columns} from ${Queue.schema}.archive where name like 'pipeline.%'`,
  )
  return rows.map((r) => ({
    id: String(r.id),
    queue: String(r.name),
    state: String(r.state),
    cron: typeof (r.data as { cron?: unknown } | null)?.cron === "string",
    createdOn: Number(r.created_on),
    startedOn: r.started_on === null ? null : Number(r.started_on),
    retryCount: Number(r.retry_count),
    output: (r.output ?? null) as Record<string, unknown> | null,
  }))
}

/** The jobs a worker process holds now: active jobs whose lock `job:<id>` it owns (`host:pid:…`). */
export const heldJobs = async (db: Db) => {
  const { rows } = await db.query(
    `select j.id::text as id, j.name, l.owner from ${Queue.schema}.job j
     join locks l on l.name = 'job:' || j.id::text
     where j.state = 'active'`,
  )
  const held = rows.map((r) => ({
    job: String(r.id),
    pipeline: Queue.pipelineOf(String(r.name)) ?? String(r.name),
    pid: Number(/^.+:(\d+):[a-z0-9]+$/.exec(String(r.owner))?.[1] ?? Number.NaN),
  }))
  // The run each holds: one `running` row per pipeline (its lock and the singleton queue see to it).
  const running = await db.query("select id, pipeline from runs where status = 'running'")
  const runOf = new Map(running.rows.map((r) => [String(r.pipeline), String(r.id)]))
  return held.map((h) => ({ ...h, run: runOf.get(h.pipeline) }))
}

export type Held = Awaited<ReturnType<typeof heldJobs>>[number]

const minute = 60_000

/** Per pipeline: the minute ticks of the window and what became of each. */
export const tickAccounting = async (
  db: Db,
  names: ReadonlyArray<string>,
  window: { readonly from: number; readonly to: number },
) => {
  const all = await jobs(db)
  const sent = await db.query(
    `select singleton_key as queue, extract(epoch from singleton_on) * 1000 as tick, extract(epoch from created_on) * 1000 as created_on
     from ${Queue.schema}.job where name = '__pgboss__send-it'
     union all select singleton_key, extract(epoch from singleton_on) * 1000, extract(epoch from created_on) * 1000
     from ${Queue.schema}.archive where name = '__pgboss__send-it'`,
  )
  const runs = await db.query("select id, pipeline, status from runs")
  // Ticks of the window: every minute after the schedules were made, up to its end.
  const expected: Array<number> = []
  for (let t = Math.floor(window.from / minute) * minute + minute; t <= window.to; t += minute)
    expected.push(t)
  return names.map((name) => {
    const queue = Queue.queueName(name)
    const sends = sent.rows
      .filter((r) => r.queue === queue)
      .map((r) => ({ tick: Number(r.tick), createdOn: Number(r.created_on) }))
      .sort((a, b) => a.createdOn - b.createdOn)
    const mine = all.filter((j) => j.queue === queue)
    // A cron job belongs to the tick whose send-it job made it: the last one made before it.
    const tickOf = (j: JobRow) =>
      [...sends].reverse().find((s) => s.createdOn <= j.createdOn)?.tick ??
      Math.floor(j.createdOn / minute) * minute
    const byTick = new Map<number, Array<JobRow>>()
    for (const j of mine.filter((j) => j.cron)) byTick.set(tickOf(j), [...(byTick.get(tickOf(j)) ?? []), j])
    const ranOnce = (j: JobRow) => j.state === "completed" && typeof j.output?.run === "string"
    const ticks = expected.map((t) => {
      const its = byTick.get(t) ?? []
      return {
        tick: t,
        sent: sends.some((s) => s.tick === t),
        jobs: its.length,
        completed: its.filter(ranOnce).length,
      }
    })
    // Runs no job accounts for: a job run twice at once (taken back from a live worker) shows here.
    const accounted = new Set(mine.map((j) => j.output?.run).filter((r) => typeof r === "string"))
    const myRuns = runs.rows.filter((r) => r.pipeline === name)
    const unaccounted = myRuns.filter(
      (r) =>
        !accounted.has(String(r.id)) && !["crashed", "interrupted", "running"].includes(String(r.status)),
    )
    const before = [...byTick.keys()].filter((t) => t < (expected[0] ?? Number.POSITIVE_INFINITY))
    return {
      name,
      expected: expected.length,
      queued: ticks.filter((t) => t.jobs > 0).length,
      once: ticks.filter((t) => t.completed === 1 && t.jobs === 1).length,
      twice: ticks.filter((t) => t.completed > 1 || t.jobs > 1).length,
      missed: ticks.filter((t) => t.completed === 0).length,
      notSent: ticks.filter((t) => !t.sent).length,
      // The minute the schedules were made in: sent only if a cron check came before it ended.
      earlyTicks: before.length,
      earlyTwice: before.filter((t) => (byTick.get(t) ?? []).filter(ranOnce).length > 1).length,
      queuedRuns: mine.filter((j) => !j.cron).length,
      runs: myRuns.length,
      unaccounted: unaccounted.map((r) => `${String(r.id)} ${String(r.status)}`),
    }
  })
}

/** What became of the killed worker's jobs and runs. */
export const resumption = async (db: Db, held: ReadonlyArray<Held>, victim: number, killedAt: number) => {
  const all = await jobs(db)
  const runs = await db.query("select id, status from runs")
  const statusOf = new Map(runs.rows.map((r) => [String(r.id), String(r.status)]))
  return held.map((h) => {
    const job = all.find((j) => j.id === h.job)
    const worker = typeof job?.output?.worker === "string" ? job.output.worker : undefined
    const run = typeof job?.output?.run === "string" ? job.output.run : undefined
    const crashed = h.run === undefined ? undefined : statusOf.get(h.run)
    const after = run === undefined ? undefined : statusOf.get(run)
    const pidOf = (w: string | undefined) => Number(/process (\d+)/.exec(w ?? "")?.[1] ?? Number.NaN)
    const resumed =
      job?.state === "completed" &&
      job.retryCount >= 1 &&
      worker !== undefined &&
      pidOf(worker) !== victim &&
      after === "succeeded" &&
      (h.run === undefined || crashed === "crashed")
    return {
      ...h,
      state: job?.state ?? "gone",
      tries: (job?.retryCount ?? 0) + 1,
      worker,
      newRun: run,
      crashedStatus: crashed,
      newStatus: after,
      resumedAfterS: job?.startedOn == null ? undefined : (job.startedOn - killedAt) / 1000,
      resumed,
    }
  })
}

/** Items of one portal by (originator, origin id): the keys found more than once. */
export const duplicates = (items: ReadonlyArray<Record<string, unknown>>) => {
  const count = new Map<string, number>()
  for (const item of items) {
    const key = `${String(item.originatorId)}/${String(item.originId)}`
    count.set(key, (count.get(key) ?? 0) + 1)
  }
  return { distinct: count.size, twice: [...count].filter(([, n]) => n > 1) }
}
