/**
 * The run queue shared by `pipeline worker` processes: pg-boss, in its own schema of the PostgreSQL
 * database that holds the state store. One queue per pipeline, with pg-boss's `singleton` policy
 * (at most one active job per queue, so two runs of one pipeline never overlap); a scheduled
 * pipeline is a pg-boss cron schedule on its queue. pg-boss's timekeeper decides each cron tick
 * once across all instances (one `cron_on` row update per interval, then one job per queue and
 * minute by a unique index), so the tick de-duplication of `serve` (the runner's `tick` check) is
 * not used by workers: it lives in pg-boss.
 *
 * Version: pg-boss 10.x. The project runs on Node >= 20.12; pg-boss 11 and 12 need Node >= 22
 * (and heartbeats exist only in 12), so a worker that dies is detected by our own job lock
 * instead (see `Worker.ts`), and pg-boss's expiry (`expireInSeconds`) is the last resort.
 */
import * as Pipeline from "@b24etl/core/Pipeline"
import { Data, Effect, Option, type Redacted, Runtime, Schedule, type Scope } from "effect"
import type PgBoss from "pg-boss"

/** The PostgreSQL schema pg-boss keeps its tables in, next to the state store's. */
export const schema = "pgboss"

/** A queue problem in the user's words (no connection string: it may hold a password). */
export class QueueError extends Data.TaggedError("QueueError")<{ readonly message: string }> {}

/** The queue of a pipeline's runs. */
export const queueName = (pipeline: string): string => `pipeline.${pipeline}`

/** The pipeline a queue belongs to, or undefined for another queue (pg-boss's own). */
export const pipelineOf = (queue: string): string | undefined =>
  queue.startsWith("pipeline.") ? queue.slice("pipeline.".length) : undefined

/**
 * How a job is retried: a failed job (the worker stopped, died, or found the pipeline locked by
 * another process) goes back to the queue after 2, 4, 8… seconds, at most 10 times. A run that
 * fails on its own (source down, bad mapping) completes its job: the next tick tries again.
 */
export const retry = { retryLimit: 10, retryDelay: 2, retryBackoff: true } as const

/**
 * How long a job may stay active before pg-boss fails it by itself: the last resort when a
 * worker hangs without dying (a dead worker's job is failed within seconds by the others).
 * pg-boss 10 allows less than 24 hours.
 */
export const expireInSeconds = 23 * 60 * 60

/** What a job asks of the run: the options of `pipeline run` it was queued with. */
export interface JobData {
  readonly full?: boolean | undefined
  readonly entities?: ReadonlyArray<string> | undefined
  readonly limit?: number | undefined
  readonly acceptSourceChange?: boolean | undefined
  /** Set on jobs a cron tick made: the pipeline's cron expression. */
  readonly cron?: string | undefined
}

/** Whether the state URL names a PostgreSQL server (workers and the queue need one). */
export const isPostgres = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url)

/** Refuses a state store the queue cannot live in: the embedded store, or MySQL. */
export const requirePostgres = (url: Redacted.Redacted<string>, what: string, value: string) =>
  isPostgres(value)
    ? Effect.succeed(url)
    : Effect.fail(
        new QueueError({
          message: `${what} needs a PostgreSQL state store (postgres://…): the run queue lives in the state store's database, which every worker reaches; ${value.startsWith("mysql") ? "a MySQL store" : "the embedded store (a directory), which belongs to one process,"} cannot hold it. Set --state or PIPELINE_STATE_URL to postgres://…, or use \`run\` / \`serve\` on one machine`,
        }),
      )

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/**
 * pg-boss connected to the state store's database, stopped when the scope closes. A `worker`
 * instance runs cron and maintenance; the instance of `run --queue` only sends.
 */
export const open = (
  url: string,
  options: { readonly worker: boolean },
): Effect.Effect<PgBoss, QueueError, Scope.Scope> =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const { default: Boss } = await import("pg-boss")
          const boss = new Boss({
            connectionString: url,
            schema,
            max: 4,
            application_name: "b24etl queue",
            supervise: options.worker,
            schedule: options.worker,
            // Cron ticks are minutes; checking every 10 s turns a tick into a job within ~15 s.
            cronMonitorIntervalSeconds: 10,
            cronWorkerIntervalSeconds: 2,
          })
          // pg-boss reports background failures (a lost connection) as events; without a listener
          // an `error` event would end the process.
          boss.on("error", (e) => Runtime.runFork(runtime)(Effect.logWarning(`run queue: ${describe(e)}`)))
          await boss.start()
          return boss
        },
        catch: (e) => new QueueError({ message: `cannot open the run queue: ${describe(e)}` }),
      }),
      (boss) =>
        Effect.promise(() => boss.stop({ graceful: false, wait: true, timeout: 5_000 })).pipe(Effect.ignore),
    ),
  )

const attempt = <A>(what: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (e) => new QueueError({ message: `${what}: ${describe(e)}` }) })

/**
 * Creates the pipeline's queue when missing, with the current retry and expiry settings, and
 * keeps its cron schedule in step with the pipeline's `schedule` (removed when it has none).
 */
export const prepare = (boss: PgBoss, pipeline: Pipeline.Pipeline, options: { readonly schedule: boolean }) =>
  attempt(`preparing the queue of pipeline "${pipeline.name}"`, async () => {
    const name = queueName(pipeline.name)
    // pg-boss 10's `updateQueue` sets the policy too, to `standard` when none is given: without it
    // here every later prepare (each worker's start, each `run --queue`) would undo the singleton.
    const settings = { policy: "singleton", ...retry, expireInSeconds } as const
    await boss.createQueue(name, { name, ...settings })
    await boss.updateQueue(name, { name, ...settings })
    if (!options.schedule) return
    const definition = Pipeline.schedule(pipeline)
    if (Option.isNone(definition)) {
      await boss.unschedule(name)
      return
    }
    const { cron, timeZone } = definition.value
    const data: JobData = { cron }
    await boss.schedule(name, cron, data, { ...settings, tz: timeZone ?? "UTC" })
  }).pipe(
    // Workers starting together create the same queue at once; PostgreSQL may answer one of them
    // with a deadlock or a duplicate (pg-boss creates a table per queue): the next try finds it made.
    Effect.retry(
      Schedule.jittered(Schedule.spaced("300 millis")).pipe(Schedule.intersect(Schedule.recurs(8))),
    ),
  )

/**
 * The queues, of `queues`, with a job that `which` (SQL on the job `j`) selects, waiting (its retry
 * delay over) while none of the queue is active (the queues are singleton). One statement for all
 * the queues: pg-boss keeps each queue's jobs in a partition of `job`, which `name = any(...)`
 * reads only for these.
 */
const queuesWaiting = (boss: PgBoss, queues: ReadonlyArray<string>, what: string, which: string) =>
  attempt(what, () =>
    boss
      .getDb()
      .executeSql(
        `select distinct j.name from ${schema}.job j where j.name = any($1::text[]) and ${which} and j.start_after < now() and not exists (select 1 from ${schema}.job a where a.name = j.name and a.state = 'active')`,
        [queues],
      ),
  ).pipe(Effect.map(({ rows }) => new Set((rows as Array<{ name: string }>).map((r) => r.name))))

/**
 * The queues with a job a worker could take now (new, or back for a retry): an idle worker asks
 * the database this once per poll rather than fetching from every queue.
 */
export const ready = (boss: PgBoss, queues: ReadonlyArray<string>) =>
  queuesWaiting(boss, queues, "asking which queues have a run waiting", "j.state < 'active'")

/**
 * The queues whose waiting job was taken back from a dead worker (failed with `reclaimed` by
 * `Worker.ts`'s watch): the runs a worker with every slot busy should still take over.
 */
export const reclaimed = (boss: PgBoss, queues: ReadonlyArray<string>) =>
  queuesWaiting(
    boss,
    queues,
    "looking for runs of dead workers",
    "j.state = 'retry' and j.output ? 'reclaimed'",
  )

/** Queues a run of the pipeline; answers the job's id. */
export const enqueue = (boss: PgBoss, pipeline: Pipeline.Pipeline, data: JobData) =>
  Effect.flatMap(prepare(boss, pipeline, { schedule: false }), () =>
    attempt(`queueing a run of pipeline "${pipeline.name}"`, () =>
      boss.send(queueName(pipeline.name), data as object, { ...retry, expireInSeconds }),
    ).pipe(
      Effect.flatMap((id) =>
        id === null
          ? Effect.fail(new QueueError({ message: `pg-boss did not queue the run of "${pipeline.name}"` }))
          : Effect.succeed(id),
      ),
    ),
  )

/** A job of a pipeline's queue as `status` shows it. */
export interface Job {
  readonly id: string
  /** created and retry: queued; active: running; completed, failed, cancelled: finished. */
  readonly state: string
  readonly data: JobData
  readonly createdOn: Date
  readonly startedOn: Date | null
  readonly completedOn: Date | null
  readonly retryCount: number
  readonly output: unknown
}

/**
 * The pipeline's jobs, newest first: queued and running ones, then the last `finished` finished
 * ones (pg-boss moves these to its archive after 12 hours). Reads with plain SQL so a `status`
 * neither starts pg-boss nor creates its schema; none when the schema does not exist.
 */
export const jobs = (url: string, pipeline: string, finished: number) =>
  attempt("reading the run queue", async () => {
    const { default: pg } = await import("pg")
    const client = new pg.Client({ connectionString: url, application_name: "b24etl status" })
    await client.connect()
    try {
      const exists = await client.query("select to_regclass($1) as job", [`${schema}.job`])
      if (exists.rows[0]?.job === null) return Option.none<ReadonlyArray<Job>>()
      const columns = `id::text as id, state::text as state, data, created_on, started_on, completed_on, retry_count, output`
      const open = await client.query(
        `select ${columns} from ${schema}.job where name = $1 and state < 'completed' order by created_on desc`,
        [queueName(pipeline)],
      )
      const done = await client.query(
        `select * from (
           select ${columns} from ${schema}.job where name = $1 and state >= 'completed'
           union all
           select ${columns} from ${schema}.archive where name = $1
         ) j order by completed_on desc nulls last limit $2`,
        [queueName(pipeline), finished],
      )
      return Option.some(
        [...open.rows, ...done.rows].map(
          (r): Job => ({
            id: r.id,
            state: r.state,
            data: (r.data ?? {}) as JobData,
            createdOn: r.created_on,
            startedOn: r.started_on,
            completedOn: r.completed_on,
            retryCount: r.retry_count,
            output: r.output,
          }),
        ),
      )
    } finally {
      await client.end()
    }
  })
