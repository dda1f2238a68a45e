/**
 * `pipeline worker`'s loop: takes runs from the pipelines' queues (`Queue.ts`) as long as it has a
 * free slot, runs each while holding a lock on its job, and watches the other workers' jobs.
 *
 * Takeover without pg-boss heartbeats (pg-boss 10): a worker holds the lock `job:<id>` in the
 * state store for as long as it works on the job, renewed every 5 s (`Lock.ts`: the owner is
 * `host:pid:…`), and completes or fails the job before it lets the lock go. Every worker looks at
 * the active jobs of its queues every few seconds: one whose lock has lapsed (lease run out, or
 * held by a process of this host that no longer exists) belongs to a worker that died, and is
 * failed (output `reclaimed`), so pg-boss queues it again for any worker; a worker whose slots are
 * all busy takes such a job beyond its slots (`rescue`), so a dead worker's runs do not wait for
 * other runs to end. The run that resumes it takes the
 * pipeline's lock over from the dead run and its reconcile stage settles what the dead run left
 * pending; the id map keeps every item exactly-once.
 */
import * as Lock from "@b24etl/core/Lock"
import type * as Pipeline from "@b24etl/core/Pipeline"
import type { RunReport } from "@b24etl/core/Report"
import type * as Runner from "@b24etl/core/Runner"
import { StateStore } from "@b24etl/core/StateStore"
import { Clock, Deferred, Duration, Effect, Either, Fiber, FiberSet, Option } from "effect"
import type PgBoss from "pg-boss"
import * as Queue from "./Queue.js"

export type Event =
  | {
      readonly _tag: "Took"
      readonly pipeline: string
      readonly job: string
      /** Made by a cron tick rather than `run --queue`. */
      readonly scheduled: boolean
      /** 0 for the first try; more when the job is resumed after a stop or a dead worker. */
      readonly retry: number
      readonly worker: string
    }
  | { readonly _tag: "Finished"; readonly pipeline: string; readonly job: string; readonly report: RunReport }
  | { readonly _tag: "Released"; readonly pipeline: string; readonly job: string; readonly reason: string }
  | { readonly _tag: "Failed"; readonly pipeline: string; readonly job: string; readonly message: string }
  | {
      readonly _tag: "Reclaimed"
      readonly pipeline: string
      readonly job: string
      /** Who held the job: `process 123 on host vm`, or nobody. */
      readonly holder: string
    }

export interface WorkerOptions<E> {
  readonly boss: PgBoss
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  /** Runs at once, over all the pipelines. */
  readonly concurrency: number
  /** Runs one pipeline with the job's options; `stop` in them completes when the worker stops. */
  readonly run: (pipeline: Pipeline.Pipeline, options: Runner.RunOptions) => Effect.Effect<RunReport, E>
  /** Whether a run failure means another process holds the pipeline (the job is retried later). */
  readonly isLocked: (error: E) => boolean
  readonly onEvent: (event: Event) => Effect.Effect<void>
  /** Completes when the worker should stop: no new jobs; runs finish their batches. */
  readonly stop: Effect.Effect<void>
  /** How long a job's lock lasts without renewal: a dead worker's job is taken back after this. */
  readonly jobLeaseMs?: number | undefined
  /** How often an idle worker asks the queues for a job. Default 1 s. */
  readonly pollMs?: number | undefined
  /** How often the worker looks for jobs of dead workers. Default 3 s. */
  readonly watchEveryMs?: number | undefined
}

/** How long after its start an active job must hold its lock: its worker takes the lock at once. */
const graceSeconds = 15

const describe = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e && typeof e.message === "string"
    ? e.message
    : String(e)

const promise = <A>(f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (e) => new Error(describe(e)) })

/** The run options a job asks for. */
const runOptions = (data: Queue.JobData): Runner.RunOptions => ({
  full: data.full === true,
  entities: data.entities !== undefined && data.entities.length > 0 ? data.entities : undefined,
  limit: data.limit,
  acceptSourceChange: data.acceptSourceChange === true,
})

/** Works until `stop` completes, then waits for the runs in progress to end and hands back their jobs. */
export const work = <E>(options: WorkerOptions<E>): Effect.Effect<void, never, StateStore> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { boss, onEvent: emit } = options
      const byQueue = new Map(options.pipelines.map((p) => [Queue.queueName(p.name), p]))
      const queues = [...byQueue.keys()]
      const jobLeaseMs = options.jobLeaseMs ?? 30_000
      const stopRuns = yield* Deferred.make<void>()
      const concurrency = Math.max(1, options.concurrency)
      const slots = yield* Effect.makeSemaphore(concurrency)
      /** Runs in the slots, and runs of dead workers taken over beyond them (see `rescue`). */
      let running = 0
      let rescuing = 0
      const runs = yield* FiberSet.make()
      const store = yield* StateStore

      const settle = (queue: string, id: string, how: "complete" | "fail", output: object) =>
        promise(() =>
          how === "complete" ? boss.complete(queue, id, output) : boss.fail(queue, id, output),
        ).pipe(Effect.catchAll((e) => Effect.logWarning(`could not ${how} job ${id}: ${e.message}`)))

      /** One job: its lock, the run, then complete (or fail, to hand it back) before the lock goes. */
      const handle = (job: PgBoss.JobWithMetadata<Queue.JobData>, pipeline: Pipeline.Pipeline) =>
        Effect.scoped(
          Effect.gen(function* () {
            const lock = yield* Lock.acquire(`job:${job.id}`, { leaseMs: jobLeaseMs, renewEveryMs: 5_000 })
            const data = job.data ?? {}
            const by = Lock.describeHolder(lock.owner)
            yield* emit({
              _tag: "Took",
              pipeline: pipeline.name,
              job: job.id,
              scheduled: data.cron !== undefined,
              retry: job.retryCount,
              worker: by,
            })
            const result = yield* Effect.either(
              options.run(pipeline, { ...runOptions(data), stop: Deferred.await(stopRuns) }),
            )
            if (Either.isRight(result)) {
              const report = result.right
              const stopping = yield* Deferred.isDone(stopRuns)
              if (report.status === "interrupted" && stopping) {
                // Stopped with the worker: hand the job back; another worker (or this one, started
                // again) resumes the run where it stopped.
                yield* settle(job.name, job.id, "fail", {
                  released: "the worker stopped",
                  run: report.runId,
                  worker: by,
                })
                return yield* emit({
                  _tag: "Released",
                  pipeline: pipeline.name,
                  job: job.id,
                  reason: "the worker is stopping; the job is queued again",
                })
              }
              yield* settle(job.name, job.id, "complete", {
                run: report.runId,
                status: report.status,
                worker: by,
                ...(report.error === undefined ? {} : { error: report.error }),
              })
              return yield* emit({ _tag: "Finished", pipeline: pipeline.name, job: job.id, report })
            }
            const message = describe(result.left)
            if (options.isLocked(result.left)) {
              // Another process runs the pipeline (a `pipeline run` by hand, or a dead run's lease
              // not yet out): try again later rather than lose the tick.
              yield* settle(job.name, job.id, "fail", { locked: message, worker: by })
              return yield* emit({
                _tag: "Released",
                pipeline: pipeline.name,
                job: job.id,
                reason: `another process holds the pipeline; queued again (${message})`,
              })
            }
            // The run could not start or stopped on an error of its own: retrying at once would
            // fail the same way; the next tick (or `run --queue`) tries again.
            yield* settle(job.name, job.id, "complete", { error: message, worker: by })
            return yield* emit({ _tag: "Failed", pipeline: pipeline.name, job: job.id, message })
          }),
        ).pipe(
          Effect.provideService(StateStore, store),
          Effect.catchAll((e) =>
            // The job's lock could not be taken (the state store is down): hand the job back.
            settle(job.name, job.id, "fail", { error: describe(e) }).pipe(
              Effect.zipRight(
                emit({ _tag: "Failed", pipeline: pipeline.name, job: job.id, message: describe(e) }),
              ),
            ),
          ),
        )

      /**
       * The next job of any queue, the queues taken in turn so no pipeline starves the others. Only
       * the queues with a job to take are fetched from: asking every queue each second would cost the
       * database W x N statements a second with nothing to do (W workers, N pipelines).
       */
      let turn = 0
      const fetchNext = Effect.gen(function* () {
        const withWork = yield* Queue.ready(boss, queues)
        for (let i = 0; i < queues.length; i++) {
          const queue = queues[(turn + i) % queues.length]!
          if (!withWork.has(queue)) continue
          // A singleton queue with a job active answers none (pg-boss swallows the unique violation).
          const [job] = yield* promise(() =>
            boss.fetch<Queue.JobData>(queue, { batchSize: 1, includeMetadata: true }),
          )
          if (job !== undefined) {
            turn = (turn + i + 1) % queues.length
            return Option.some(job)
          }
        }
        return Option.none<PgBoss.JobWithMetadata<Queue.JobData>>()
      })

      const pollMs = options.pollMs ?? 1_000
      // Taking a job and starting its run happen without an interruption in between, so a stop
      // never leaves a job active with nobody working on it. Waiting for a slot is interruptible: a
      // stop while every slot is busy must not wait for a run to end.
      const takeOne = Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          yield* restore(slots.take(1))
          const next = yield* fetchNext.pipe(
            Effect.catchAll((e) =>
              Effect.as(Effect.logWarning(`reading the run queue failed: ${e.message}`), Option.none()),
            ),
          )
          if (Option.isNone(next)) {
            yield* slots.release(1)
            return false
          }
          const job = next.value
          running++
          yield* FiberSet.run(
            runs,
            restore(handle(job, byQueue.get(job.name)!)).pipe(
              Effect.ensuring(
                Effect.zipRight(
                  Effect.sync(() => running--),
                  slots.release(1),
                ),
              ),
            ),
          )
          return true
        }),
      )
      const taking = Effect.gen(function* () {
        for (;;) {
          if (!(yield* takeOne)) yield* Effect.sleep(Duration.millis(pollMs))
        }
      })

      /** Fails the active jobs whose worker stopped renewing their lock, so pg-boss queues them again. */
      const watch = Effect.gen(function* () {
        const { rows } = yield* promise(() =>
          boss
            .getDb()
            .executeSql(
              `select id::text as id, name from ${Queue.schema}.job where state = 'active' and name = any($1::text[]) and started_on < now() - interval '${graceSeconds} seconds'`,
              [queues],
            ),
        )
        for (const row of rows as Array<{ id: string; name: string }>) {
          const holder = yield* Lock.holder(`job:${row.id}`).pipe(Effect.provideService(StateStore, store))
          const now = yield* Clock.currentTimeMillis
          const lapsed = Option.match(holder, {
            onNone: () => true,
            onSome: (h) => h.expiresAt.getTime() <= now || Lock.holderIsDead(h.owner),
          })
          if (!lapsed) continue
          const who = Option.match(holder, {
            onNone: () => "nobody",
            onSome: (h) => Lock.describeHolder(h.owner),
          })
          yield* settle(row.name, row.id, "fail", {
            reclaimed: `its worker (${who}) stopped renewing its lock`,
          })
          yield* emit({
            _tag: "Reclaimed",
            pipeline: Queue.pipelineOf(row.name) ?? row.name,
            job: row.id,
            holder: who,
          })
        }
      }).pipe(
        Effect.catchAll((e) => Effect.logWarning(`looking for jobs of stopped workers failed: ${e.message}`)),
      )

      /**
       * A dead worker's runs must not wait for a run here to end (a migration can take hours): while
       * every slot is busy, a queue whose job was taken back from a dead worker is served beyond the
       * slots, up to `concurrency` such runs, so the fleet takes the lost worker's load over at once.
       * With a slot free, the taking loop gets the job as any other.
       */
      const rescue = Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          if (running < concurrency || rescuing >= concurrency || (yield* Deferred.isDone(stopRuns))) return
          for (const queue of yield* Queue.reclaimed(boss, queues)) {
            if (rescuing >= concurrency) return
            // Whichever job of the queue comes first resumes the pipeline's unfinished run.
            const [job] = yield* promise(() =>
              boss.fetch<Queue.JobData>(queue, { batchSize: 1, includeMetadata: true }),
            )
            if (job === undefined) continue
            rescuing++
            yield* FiberSet.run(
              runs,
              restore(handle(job, byQueue.get(job.name)!)).pipe(
                Effect.ensuring(Effect.sync(() => rescuing--)),
              ),
            )
          }
        }),
      ).pipe(
        Effect.catchAll((e) => Effect.logWarning(`taking over a dead worker's run failed: ${e.message}`)),
      )

      const takingFiber = yield* Effect.forkScoped(taking)
      yield* Effect.forkScoped(
        watch.pipe(
          Effect.zipRight(rescue),
          Effect.zipRight(Effect.sleep(Duration.millis(options.watchEveryMs ?? 3_000))),
          Effect.forever,
        ),
      )
      yield* options.stop
      // Graceful stop: no new jobs; the runs finish their batches and hand their jobs back.
      yield* Fiber.interrupt(takingFiber)
      yield* Deferred.succeed(stopRuns, undefined)
      yield* FiberSet.awaitEmpty(runs)
    }),
  )
