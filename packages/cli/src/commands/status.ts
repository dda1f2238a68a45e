/** `pipeline status`: recent runs, checkpoints, id-map counts and dead letters of a pipeline. */

import * as Lock from "@b24etl/core/Lock"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Scheduler from "@b24etl/core/Scheduler"
import { StateStore } from "@b24etl/core/StateStore"
import { Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Option, Redacted } from "effect"
import * as CliConfig from "../Config.js"
import {
  handled,
  hintName,
  invocation,
  jsonOption,
  pipelineArg,
  pipelineName,
  setExitCode,
  stateOption,
  withState,
} from "../internal/common.js"
import * as Format from "../internal/format.js"
import * as Table from "../internal/table.js"
import * as Queue from "../Queue.js"

/** A run's totals from the stats the runner stores with it (`{ entities: EntityReport[] }`). */
const runTotals = (
  stats: unknown,
): {
  readonly read?: number
  readonly created?: number
  readonly updated?: number
  readonly failed?: number
} => {
  const entities = (stats as { entities?: unknown } | null)?.entities
  if (!Array.isArray(entities)) return {}
  const sum = (k: string) =>
    entities.reduce((n: number, e: unknown) => {
      const v = (e as Record<string, unknown> | null)?.[k]
      return n + (typeof v === "number" ? v : 0)
    }, 0)
  return { read: sum("read"), created: sum("created"), updated: sum("updated"), failed: sum("failed") }
}

/** Why a run ended badly, from its stats: the runner's `error`, or the note of a crashed run. */
const runError = (stats: unknown): string | undefined => {
  const error = (stats as { error?: unknown } | null)?.error
  return typeof error === "string" && error.length > 0 ? error : undefined
}

/** Counting dead letters by entity and code, in the pipeline's entity order then by count. */
const deadLettersByCode = (
  letters: ReadonlyArray<{
    readonly entity: string
    readonly code: string
    readonly dismissedAt: Date | null
  }>,
  order: ReadonlyArray<string>,
) => {
  const counts = new Map<string, { entity: string; code: string; count: number }>()
  for (const l of letters) {
    if (l.dismissedAt !== null) continue
    const key = `${l.entity}\u0000${l.code}`
    const row = counts.get(key) ?? { entity: l.entity, code: l.code, count: 0 }
    row.count++
    counts.set(key, row)
  }
  const rank = (e: string) => (order.includes(e) ? order.indexOf(e) : order.length)
  return [...counts.values()].sort(
    (a, b) =>
      rank(a.entity) - rank(b.entity) || Format.naturalCompare(a.entity, b.entity) || b.count - a.count,
  )
}

/** A job's state in the user's words. */
const jobState = (job: Queue.Job): string =>
  job.state === "created"
    ? "queued"
    : job.state === "retry"
      ? "queued again"
      : job.state === "active"
        ? "running"
        : job.state === "completed"
          ? "finished"
          : job.state

/** What became of a job, or why it was queued again, from the output its worker left. */
const jobOutcome = (job: Queue.Job): string => {
  const o = (job.output ?? {}) as Record<string, unknown>
  const text = (k: string) => (typeof o[k] === "string" ? (o[k] as string) : undefined)
  const by = text("worker") === undefined ? "" : ` (${text("worker")})`
  if (text("run") !== undefined && text("status") !== undefined)
    return `run ${text("run")} ${text("status")}${text("error") === undefined ? "" : `: ${text("error")}`}${by}`
  const why = text("reclaimed") ?? text("released") ?? text("locked") ?? text("error") ?? text("message")
  return why === undefined ? "" : `${why}${by}`
}

/**
 * The pipeline's jobs in the run queue (`pipeline worker`), with the worker running each: on a
 * PostgreSQL store once a worker or `run --queue` has created the queue; none otherwise.
 */
const queueJobs = (state: Option.Option<string>, pipeline: string, finished: number) =>
  Effect.gen(function* () {
    const url = Redacted.value(yield* CliConfig.resolveStateUrl(state))
    if (!Queue.isPostgres(url)) return null
    const jobs = yield* Queue.jobs(url, pipeline, finished)
    if (Option.isNone(jobs)) return null
    return yield* Effect.forEach(jobs.value, (job) =>
      job.state !== "active"
        ? Effect.succeed({ ...job, worker: null })
        : Effect.map(Lock.holder(`job:${job.id}`), (holder) => ({
            ...job,
            worker: Option.match(holder, { onNone: () => null, onSome: (h) => Lock.describeHolder(h.owner) }),
          })),
    )
  })
/** The lock lease a command-line run takes (the runner's default): its holder was last seen this long before the lease ends. */
const LEASE_MS = 60_000

/**
 * How a run shows: a run still marked `running` whose process is gone (killed, out of memory)
 * is `crashed` at once, before the next run closes it, and lasted until its holder's last lock
 * renewal (its heartbeat) when the lock tells. It is dead when the pipeline's lock is free, held
 * by a process of this host that no longer exists, or past its lease; only the newest run can
 * still be alive (a run takes the lock before it starts, and closes older ones).
 */
const shown = (
  run: { readonly status: string; readonly startedAt: Date; readonly finishedAt: Date | null },
  newest: boolean,
  holder: Option.Option<Lock.LockHolder>,
  now: Date,
): { readonly status: string; readonly finishedAt: Date | null; readonly unclosed: boolean } => {
  if (run.status !== "running") return { status: run.status, finishedAt: run.finishedAt, unclosed: false }
  const alive =
    newest &&
    Option.isSome(holder) &&
    !Lock.holderIsDead(holder.value.owner) &&
    holder.value.expiresAt.getTime() > now.getTime()
  if (alive) return { status: "running", finishedAt: null, unclosed: false }
  const lastSeen =
    newest && Option.isSome(holder)
      ? new Date(Math.max(run.startedAt.getTime(), holder.value.expiresAt.getTime() - LEASE_MS))
      : null
  return { status: "crashed", finishedAt: lastSeen, unclosed: true }
}

/** How many runs back `status` looks for the last successful one. */
const HISTORY = 200

export const status = Command.make(
  "status",
  {
    pipeline: pipelineArg,
    runs: Options.integer("runs").pipe(
      Options.withDescription("how many recent runs to show (default 5)"),
      Options.withDefault(5),
    ),
    state: stateOption,
    json: jsonOption,
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const { name, reference, loaded } = yield* pipelineName(args.pipeline)
        yield* withState(
          args.state,
          Effect.gen(function* () {
            const store = yield* StateStore
            const holder = yield* Lock.holder(`pipeline:${name}`)
            const clock = new Date(yield* Clock.currentTimeMillis)
            // Runs as they stand now: one whose process died shows as crashed before the next run closes it.
            const history = (yield* store.recentRuns(name, Math.max(args.runs, HISTORY))).map((r, i) => ({
              ...r,
              ...shown(r, i === 0, holder, clock),
            }))
            const runs = history.slice(0, Math.max(0, args.runs))
            const last = history[0]
            const lastError = last === undefined ? undefined : runError(last.stats)
            // `partial` wrote everything it could: the records that failed are dead letters.
            const lastSucceeded = history.find((r) => r.status === "succeeded" || r.status === "partial")
            const checkpoints = yield* store.checkpoints(name)
            const counts = yield* store.idMapCounts(name)
            const deadLetters = yield* store.deadLetterCount(name)
            const byCode =
              deadLetters === 0
                ? []
                : deadLettersByCode(
                    yield* store.deadLetters(name),
                    Option.match(loaded, { onNone: () => [], onSome: (l) => l.order }),
                  )
            const binding = Option.getOrNull(yield* store.binding(name))
            const queue = yield* queueJobs(args.state, name, args.runs)
            const now = new Date(yield* Clock.currentTimeMillis)
            const schedule = Option.flatMap(loaded, (l) =>
              Option.map(Pipeline.schedule(l.pipeline), (definition) => ({
                ...definition,
                next: Scheduler.nextRun(l.pipeline, now) ?? null,
              })),
            )
            // The pipeline's entities in its order, then any others the state knows, in natural order.
            const order: ReadonlyArray<string> = Option.match(loaded, {
              onNone: () => [],
              onSome: (l) => l.order,
            })
            const others = [...counts.map((c) => c.entity), ...checkpoints.map((c) => c.entity)]
              .filter((e) => !order.includes(e))
              .sort(Format.naturalCompare)
            const entities = [...new Set([...order, ...others])]
            const countOf = (entity: string, status: string) =>
              counts.find((c) => c.entity === entity && c.status === status)?.count ?? 0
            if (args.json) {
              yield* Console.log(
                JSON.stringify(
                  {
                    pipeline: name,
                    state: store.location,
                    runs,
                    checkpoints,
                    idMap: entities.map((e) => ({
                      entity: e,
                      created: countOf(e, "created"),
                      pending: countOf(e, "pending"),
                    })),
                    lastRun:
                      last === undefined
                        ? null
                        : { id: last.id, status: last.status, error: lastError ?? null },
                    lastSucceeded: lastSucceeded ?? null,
                    deadLetters,
                    deadLettersByCode: byCode,
                    binding,
                    schedule: Option.getOrNull(schedule),
                    queue:
                      queue?.map((j) => ({
                        job: j.id,
                        state: jobState(j),
                        queuedAt: j.createdOn,
                        startedAt: j.startedOn,
                        finishedAt: j.completedOn,
                        tries: j.retryCount + (j.startedOn === null ? 0 : 1),
                        worker: j.worker,
                        outcome: jobOutcome(j) || null,
                        request: j.data,
                      })) ?? null,
                  },
                  null,
                  2,
                ),
              )
              return
            }
            yield* Console.log(`Pipeline ${name} — state: ${store.location}`)
            // What the state belongs to: a run against another portal or source stops before writing.
            if (binding !== null)
              yield* Console.log(
                `Bound to: ${binding.target}, originator ${binding.originator}${binding.source === null ? "" : `; source ${binding.source.split("\n").join(", ")}`}`,
              )
            if (Option.isSome(schedule)) {
              const { cron, timeZone, next } = schedule.value
              yield* Console.log(
                `Schedule: ${cron}${timeZone ? ` (${timeZone})` : ""}${next === null ? "" : ` — next run ${Format.timestamp(next)} with \`${invocation} serve\``}`,
              )
            }
            yield* Console.log("")
            yield* Console.log(
              runs.length === 0
                ? "Runs: none yet"
                : Table.render(
                    [
                      { header: "RUN" },
                      { header: "STATUS" },
                      { header: "STARTED" },
                      { header: "DURATION", align: "right" },
                      { header: "READ", align: "right" },
                      { header: "CREATED", align: "right" },
                      { header: "UPDATED", align: "right" },
                      { header: "FAILED", align: "right" },
                    ],
                    runs.map((r) => {
                      const t = runTotals(r.stats)
                      const n = (k: keyof typeof t) => {
                        const v = t[k]
                        return v === undefined ? "-" : Format.count(v)
                      }
                      return [
                        r.id,
                        r.status,
                        Format.timestamp(r.startedAt),
                        r.finishedAt !== null
                          ? Format.duration(r.finishedAt.getTime() - r.startedAt.getTime())
                          : r.status === "running"
                            ? `${Format.duration(clock.getTime() - r.startedAt.getTime())} so far`
                            : "-",
                        n("read"),
                        n("created"),
                        n("updated"),
                        n("failed"),
                      ]
                    }),
                  ),
            )
            if (runs.some((r) => r.unclosed))
              yield* Console.log(
                `crashed: its process is gone without finishing the run (killed, out of memory); the next run closes it and resumes where it stopped. Its duration runs to its last heartbeat.`,
              )
            // Why the last run ended badly: otherwise only in `--json`, or in a log nobody kept.
            if (last !== undefined && ["failed", "crashed", "interrupted"].includes(last.status))
              yield* Console.log(`Last run ${last.status}${lastError === undefined ? "" : `: ${lastError}`}`)
            if (last !== undefined)
              yield* Console.log(
                lastSucceeded === undefined
                  ? `Last successful run: none in the last ${Format.count(history.length)} runs`
                  : `Last successful run: ${Format.timestamp(lastSucceeded.startedAt)} (${lastSucceeded.id}${lastSucceeded.status === "partial" ? ", with dead letters" : ""})`,
              )
            if (queue !== null) {
              yield* Console.log("")
              const count = (st: string) => queue.filter((j) => jobState(j) === st).length
              yield* Console.log(
                `Queue (pipeline worker): ${Format.count(count("queued") + count("queued again"))} queued, ${Format.count(count("running"))} running`,
              )
              if (queue.length > 0)
                yield* Console.log(
                  Table.render(
                    [
                      { header: "JOB" },
                      { header: "STATE" },
                      { header: "QUEUED" },
                      { header: "STARTED" },
                      { header: "TRIES", align: "right" },
                      { header: "WORKER / OUTCOME" },
                    ],
                    queue.map((j) => [
                      j.id,
                      jobState(j),
                      Format.timestamp(j.createdOn),
                      j.startedOn === null ? "-" : Format.timestamp(j.startedOn),
                      String(j.retryCount + (j.startedOn === null ? 0 : 1)),
                      j.worker ?? (jobOutcome(j) || "-"),
                    ]),
                  ),
                )
            }
            yield* Console.log("")
            yield* Console.log(
              entities.length === 0
                ? "Id map: empty"
                : Table.render(
                    [
                      { header: "ENTITY" },
                      { header: "CREATED", align: "right" },
                      { header: "PENDING", align: "right" },
                      { header: "CHECKPOINT" },
                    ],
                    entities.map((e) => {
                      const checkpoint = checkpoints.find((c) => c.entity === e)
                      return [
                        e,
                        Format.count(countOf(e, "created")),
                        Format.count(countOf(e, "pending")),
                        checkpoint === undefined
                          ? "-"
                          : `${JSON.stringify(checkpoint.cursor)} (${Format.timestamp(checkpoint.updatedAt)})`,
                      ]
                    }),
                  ),
            )
            if (entities.some((e) => countOf(e, "pending") > 0))
              yield* Console.log(
                "PENDING: sent to the portal by a run that stopped before it heard back; the next run looks each one up by its origin id before writing, so none is created twice.",
              )
            yield* Console.log("")
            if (byCode.length > 0)
              yield* Console.log(
                Table.render(
                  [{ header: "ENTITY" }, { header: "CODE" }, { header: "DEAD LETTERS", align: "right" }],
                  byCode.map((r) => [r.entity, r.code, Format.count(r.count)]),
                ),
              )
            yield* Console.log(
              `Dead letters: ${Format.count(deadLetters)}${deadLetters > 0 ? ` — see \`${invocation} failures ${hintName(reference)}\`` : ""}`,
            )
          }),
        )
        yield* setExitCode(0)
      }),
      { json: args.json },
    ),
).pipe(
  Command.withDescription("show recent runs, checkpoints, id-map counts by entity and the dead-letter count"),
)
