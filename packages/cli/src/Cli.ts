/**
 * The `pipeline` command: list, plan, run, status, failures, retry, reset, serve, emulator.
 * Every handler prints through `Console`, and ends by setting the process exit code
 * (0 done, 1 failed or interrupted, 2 done with dead letters); expected errors print one line.
 */

import type * as Serve from "@b24etl/bitrix24-emulator/Serve"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Report from "@b24etl/core/Report"
import * as Runner from "@b24etl/core/Runner"
import * as Scheduler from "@b24etl/core/Scheduler"
import { StateStore } from "@b24etl/core/StateStore"
import { Args, type CliApp, Command, Options, ValidationError } from "@effect/cli"
import type { FileSystem, Path } from "@effect/platform"
import {
  Clock,
  Config,
  Console,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Redacted,
  Ref,
} from "effect"
import * as Format from "./internal/format.js"
import * as Table from "./internal/table.js"
import * as PipelineLoader from "./PipelineLoader.js"
import * as ProgressDisplay from "./ProgressDisplay.js"
import * as ReportTable from "./ReportTable.js"
import * as State from "./State.js"

/** How users run the command, for the hints printed after a run. */
export const invocation = "pnpm pipeline"

/** The exit code the process ends with; `bin.ts` reads it when the program ends, even when interrupted. */
export class ExitCode extends Context.Tag("@b24etl/cli/ExitCode")<ExitCode, Ref.Ref<number | undefined>>() {
  static readonly make = (): Ref.Ref<number | undefined> => Ref.unsafeMake<number | undefined>(undefined)
}

const setExitCode = (code: number) => Effect.flatMap(ExitCode, (ref) => Ref.set(ref, code))

/** A refusal or mistake of the user's, with what to do about it. */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string }> {}

const tagOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined

const messageOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e && typeof e.message === "string"
    ? e.message
    : String(e)

/** One line for an expected error: what failed, where, and (in the message) what to do. */
export const describeError = (e: unknown): string => {
  switch (tagOf(e)) {
    case "DefinitionError":
    case "RunError": {
      const err = e as { pipeline: string; entity?: string | undefined; message: string }
      if (err.message.startsWith(err.pipeline)) return err.message
      return `pipeline "${err.pipeline}"${err.entity ? `, entity "${err.entity}"` : ""}: ${err.message}`
    }
    case "StateStoreError": {
      const err = e as { operation: string; message: string }
      return `state store failed while ${err.operation}: ${err.message} (check --state or PIPELINE_STATE_URL)`
    }
    case "ConfigError":
      return `configuration: ${String(e)}`
    default:
      return messageOf(e)
  }
}

/** Prints an expected error as one line on stderr and sets exit code 1. */
const reportFailure = (e: unknown) =>
  Console.error(`error: ${describeError(e)}`).pipe(Effect.zipRight(setExitCode(1)))

type Env = FileSystem.FileSystem | Path.Path | ProgressDisplay.Output | ExitCode

/** Runs a handler: its expected errors become one line on stderr and exit code 1. */
const handled = <E>(effect: Effect.Effect<void, E, Env>): Effect.Effect<void, never, Env> =>
  effect.pipe(Effect.catchAll(reportFailure))

// Arguments and options shared by several commands.
const pipelineArg = Args.text({ name: "pipeline" }).pipe(
  Args.withDescription("a pipeline's name (from pipelines/*.ts or PIPELINE_DIR) or the path of its file"),
)
const stateOption = Options.text("state").pipe(
  Options.withDescription(
    "where the state is: postgres://…, mysql://… or a directory (default: PIPELINE_STATE_URL, else .pipeline/state)",
  ),
  Options.optional,
)
const jsonOption = Options.boolean("json").pipe(Options.withDescription("print JSON instead of tables"))
const entitiesOption = Options.text("entity").pipe(
  Options.withDescription("only this entity (repeat for several)"),
  Options.repeated,
)

/** The state store of a command as a layer. */
const withState = <A, E, R>(state: Option.Option<string>, effect: Effect.Effect<A, E, R | StateStore>) =>
  Effect.provide(effect, State.layer(state))

/**
 * The pipeline's name for commands that only read or clear the state: loaded when it can be, so
 * a path works and a typo is caught, but a file that no longer loads does not lock its state away.
 */
const pipelineName = (nameOrPath: string) =>
  PipelineLoader.load(nameOrPath).pipe(
    Effect.map((loaded) => ({ name: loaded.pipeline.name, loaded: Option.some(loaded) })),
    Effect.catchIf(
      (e) => !PipelineLoader.isPath(nameOrPath) && e._tag !== "PipelineNotFound",
      (e) =>
        Console.error(`warning: ${describeError(e)}; using the state of "${nameOrPath}" anyway`).pipe(
          Effect.as({ name: nameOrPath, loaded: Option.none<PipelineLoader.Loaded>() }),
        ),
    ),
  )

// ---------------------------------------------------------------------------------------------
// list

const scheduleText = (pipeline: Pipeline.Pipeline): string =>
  Option.match(Pipeline.schedule(pipeline), {
    onNone: () => "on demand",
    onSome: (s) => `${s.cron}${s.timeZone ? ` (${s.timeZone})` : ""}`,
  })

const list = Command.make("list", { json: jsonOption }, ({ json }) =>
  handled(
    Effect.gen(function* () {
      const entries = yield* PipelineLoader.loadAll
      const dirs = yield* PipelineLoader.directories
      const loaded = entries.flatMap((e) => (e._tag === "Loaded" ? [e.loaded] : []))
      const failed = entries.flatMap((e) => (e._tag === "Failed" ? [e] : []))
      if (json) {
        yield* Console.log(
          JSON.stringify(
            {
              pipelines: loaded.map((l) => ({
                name: l.pipeline.name,
                file: l.file,
                entities: l.order,
                schedule: Option.getOrNull(Pipeline.schedule(l.pipeline)),
                description: l.pipeline.description ?? null,
              })),
              errors: failed.map((f) => ({ file: f.file, error: describeError(f.error) })),
            },
            null,
            2,
          ),
        )
      } else if (entries.length === 0) {
        yield* Console.log(
          dirs.length === 0
            ? "No pipelines: there is no pipelines/ directory here (set PIPELINE_DIR, or run from the project root)."
            : `No pipeline files in ${dirs.join(", ")}.`,
        )
      } else {
        if (loaded.length > 0) {
          yield* Console.log(
            Table.render(
              [{ header: "NAME" }, { header: "ENTITIES" }, { header: "SCHEDULE" }, { header: "DESCRIPTION" }],
              loaded.map((l) => [
                l.pipeline.name,
                l.order.join(", "),
                scheduleText(l.pipeline),
                l.pipeline.description ?? "",
              ]),
            ),
          )
        }
        if (failed.length > 0) {
          yield* Console.log(`${loaded.length > 0 ? "\n" : ""}Could not load:`)
          for (const f of failed) yield* Console.log(`  ${f.file}: ${describeError(f.error)}`)
        }
      }
      yield* setExitCode(failed.length > 0 ? 1 : 0)
    }),
  ),
).pipe(Command.withDescription("list the pipelines found, with their entities, schedule and description"))

// ---------------------------------------------------------------------------------------------
// plan

const plan = Command.make(
  "plan",
  {
    pipeline: pipelineArg,
    sample: Options.integer("sample").pipe(
      Options.withDescription("records read per entity to check the mapped fields (default 20)"),
      Options.withDefault(20),
    ),
    json: jsonOption,
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const { pipeline, file } = yield* PipelineLoader.load(args.pipeline)
        const result = yield* Runner.plan(pipeline, { sample: args.sample })
        const problems = result.sink.problems
        if (args.json) {
          yield* Console.log(
            JSON.stringify(
              {
                ...result,
                sink: {
                  ...result.sink,
                  estimate:
                    result.sink.estimate === undefined ? null : Duration.toMillis(result.sink.estimate),
                },
              },
              null,
              2,
            ),
          )
        } else {
          yield* Console.log(`Plan for pipeline ${result.pipeline} (${file}) → ${pipeline.sink.name}`)
          yield* Console.log(`Order: ${result.order.join(" → ")}`)
          yield* Console.log("")
          yield* Console.log(
            Table.render(
              [
                { header: "ENTITY" },
                { header: "TARGET" },
                { header: "SOURCE" },
                { header: "RECORDS", align: "right" },
                { header: "FIELDS" },
              ],
              result.entities.map((e) => [
                e.entity,
                e.target,
                e.source,
                e.count === undefined ? "?" : Format.count(e.count),
                e.fields.join(", "),
              ]),
            ),
          )
          const total = result.entities.reduce((n, e) => n + (e.count ?? 0), 0)
          yield* Console.log("")
          yield* Console.log(
            `Records: ${Format.count(total)}${result.entities.some((e) => e.count === undefined) ? " (and more from sources that cannot count)" : ""}`,
          )
          yield* Console.log(
            result.sink.estimate === undefined
              ? "Estimated duration: unknown (the sink cannot tell)"
              : `Estimated duration: ${Duration.toMillis(result.sink.estimate) < 1_000 ? "under a second" : Format.duration(Duration.toMillis(result.sink.estimate))} at the sink's rate`,
          )
          for (const note of result.sink.notes) yield* Console.log(`Note: ${note}`)
          if (problems.length > 0) {
            yield* Console.log("")
            yield* Console.log(`Problems (${problems.length}):`)
            for (const p of problems)
              yield* Console.log(`  ${p.entity}${p.field === undefined ? "" : `.${p.field}`}: ${p.message}`)
          } else yield* Console.log("Problems: none")
        }
        if (problems.length > 0) {
          yield* Console.error(
            `error: the plan of pipeline "${result.pipeline}" has ${Format.plural(problems.length, "problem")}; fix the mappings before running`,
          )
        }
        yield* setExitCode(problems.length > 0 ? 1 : 0)
      }),
    ),
).pipe(
  Command.withDescription(
    "check a pipeline without writing: entity order, record counts, mapped fields, estimated duration",
  ),
)

// ---------------------------------------------------------------------------------------------
// run and retry

const executeRun = (
  args: { readonly pipeline: string; readonly state: Option.Option<string>; readonly json: boolean },
  options: Runner.RunOptions,
) =>
  handled(
    Effect.gen(function* () {
      const { pipeline, order } = yield* PipelineLoader.load(args.pipeline)
      const output = yield* ProgressDisplay.Output
      const display = ProgressDisplay.layer({ json: args.json, entities: options.entities ?? order })
      const layer = Layer.merge(State.layer(args.state), display).pipe(
        Layer.provide(Layer.succeed(ProgressDisplay.Output, output)),
      )
      const stop = yield* Deferred.make<void>()
      // A signal interrupts this fiber: the run is told to stop (it finishes the batches in flight
      // and answers an `interrupted` report), and the report is still printed. The run is a daemon
      // so the signal does not reach it directly.
      yield* Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.forkDaemon(
            restore(
              Runner.run(pipeline, { ...options, stop: Deferred.await(stop) }).pipe(Effect.provide(layer)),
            ),
          )
          const first = yield* Effect.exit(restore(Fiber.await(fiber)))
          let result: Exit.Exit<Report.RunReport, unknown>
          if (Exit.isSuccess(first)) result = first.value
          else {
            yield* Console.error(
              "stopping: finishing the batches in flight (interrupt again to quit at once)",
            )
            yield* Deferred.succeed(stop, undefined)
            result = yield* Fiber.await(fiber)
          }
          if (Exit.isFailure(result)) return yield* result
          const report = result.value
          yield* Console.log(
            args.json ? JSON.stringify(report, null, 2) : `\n${ReportTable.render(report, invocation)}`,
          )
          yield* setExitCode(Report.exitCode(report))
        }),
      )
    }),
  )

const run = Command.make(
  "run",
  {
    pipeline: pipelineArg,
    dryRun: Options.boolean("dry-run").pipe(
      Options.withDescription("read, map and check everything, write nothing (no state is changed)"),
    ),
    limit: Options.integer("limit").pipe(
      Options.withDescription("read at most this many records per entity"),
      Options.optional,
    ),
    entity: entitiesOption,
    state: stateOption,
    json: jsonOption,
  },
  (args) =>
    executeRun(args, {
      dryRun: args.dryRun,
      limit: Option.getOrUndefined(args.limit),
      entities: args.entity.length === 0 ? undefined : args.entity,
    }),
).pipe(
  Command.withDescription(
    "run a pipeline: exit 0 when done, 1 when it failed or was interrupted, 2 when done with dead letters",
  ),
)

const retry = Command.make(
  "retry",
  { pipeline: pipelineArg, entity: entitiesOption, state: stateOption, json: jsonOption },
  (args) =>
    executeRun(args, {
      onlyDeadLetters: true,
      entities: args.entity.length === 0 ? undefined : args.entity,
    }),
).pipe(Command.withDescription("read again and write only the records in the dead letters"))

// ---------------------------------------------------------------------------------------------
// status

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

const status = Command.make(
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
        const { name, loaded } = yield* pipelineName(args.pipeline)
        yield* withState(
          args.state,
          Effect.gen(function* () {
            const store = yield* StateStore
            const runs = yield* store.recentRuns(name, args.runs)
            const checkpoints = yield* store.checkpoints(name)
            const counts = yield* store.idMapCounts(name)
            const deadLetters = yield* store.deadLetterCount(name)
            const now = new Date(yield* Clock.currentTimeMillis)
            const schedule = Option.flatMap(loaded, (l) =>
              Option.map(Pipeline.schedule(l.pipeline), (definition) => ({
                ...definition,
                next: Scheduler.nextRun(l.pipeline, now) ?? null,
              })),
            )
            const entities = [
              ...new Set([
                ...Option.match(loaded, { onNone: () => [], onSome: (l) => l.order }),
                ...counts.map((c) => c.entity),
                ...checkpoints.map((c) => c.entity),
              ]),
            ]
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
                    deadLetters,
                    schedule: Option.getOrNull(schedule),
                  },
                  null,
                  2,
                ),
              )
              return
            }
            yield* Console.log(`Pipeline ${name} — state: ${store.location}`)
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
                        r.finishedAt === null
                          ? "-"
                          : Format.duration(r.finishedAt.getTime() - r.startedAt.getTime()),
                        n("read"),
                        n("created"),
                        n("updated"),
                        n("failed"),
                      ]
                    }),
                  ),
            )
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
            yield* Console.log("")
            yield* Console.log(
              `Dead letters: ${Format.count(deadLetters)}${deadLetters > 0 ? ` — see \`${invocation} failures ${name}\`` : ""}`,
            )
          }),
        )
        yield* setExitCode(0)
      }),
    ),
).pipe(
  Command.withDescription("show recent runs, checkpoints, id-map counts by entity and the dead-letter count"),
)

// ---------------------------------------------------------------------------------------------
// failures

const failures = Command.make(
  "failures",
  {
    pipeline: pipelineArg,
    entity: Options.text("entity").pipe(Options.withDescription("only this entity"), Options.optional),
    limit: Options.integer("limit").pipe(
      Options.withDescription("show at most this many (default 50)"),
      Options.withDefault(50),
    ),
    state: stateOption,
    json: jsonOption,
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const { name } = yield* pipelineName(args.pipeline)
        yield* withState(
          args.state,
          Effect.gen(function* () {
            const store = yield* StateStore
            const letters = yield* store.deadLetters(name, {
              entity: Option.getOrUndefined(args.entity),
              limit: args.limit,
            })
            const total = yield* store.deadLetterCount(name)
            if (args.json) {
              yield* Console.log(JSON.stringify(letters, null, 2))
              return
            }
            if (letters.length === 0) {
              yield* Console.log(
                `No dead letters for pipeline ${name}${Option.isSome(args.entity) ? `, entity ${args.entity.value}` : ""}.`,
              )
              return
            }
            yield* Console.log(
              Table.render(
                [
                  { header: "ENTITY" },
                  { header: "KEY" },
                  { header: "STAGE" },
                  { header: "CODE" },
                  { header: "ATTEMPTS", align: "right" },
                  { header: "MESSAGE" },
                ],
                letters.map((d) => [d.entity, d.sourceKey, d.stage, d.code, String(d.attempts), d.message]),
              ),
            )
            yield* Console.log("")
            yield* Console.log(
              `${letters.length < total && Option.isNone(args.entity) ? `Showing ${Format.count(letters.length)} of ${Format.count(total)}. ` : ""}Payloads: \`${invocation} failures ${name} --json\`. Replay after fixing: \`${invocation} retry ${name}\`.`,
            )
          }),
        )
        yield* setExitCode(0)
      }),
    ),
).pipe(Command.withDescription("list the dead letters: entity, key, stage, code, message, attempts"))

// ---------------------------------------------------------------------------------------------
// reset

const reset = Command.make(
  "reset",
  {
    pipeline: pipelineArg,
    entity: entitiesOption,
    yes: Options.boolean("yes").pipe(Options.withDescription("confirm: without it nothing is reset")),
    state: stateOption,
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const { name, loaded } = yield* pipelineName(args.pipeline)
        if (Option.isSome(loaded)) {
          for (const entity of args.entity) {
            if (!loaded.value.order.includes(entity)) {
              return yield* new CliError({
                message: `pipeline "${name}" has no entity "${entity}" (entities: ${loaded.value.order.join(", ")})`,
              })
            }
          }
        }
        const what =
          args.entity.length === 0
            ? `pipeline "${name}"`
            : `entities ${args.entity.join(", ")} of pipeline "${name}"`
        if (!args.yes) {
          return yield* new CliError({
            message: `refusing to reset ${what} without --yes: reset forgets the id map, checkpoints and dead letters, so the next run creates every record again in the target. Add --yes to confirm.`,
          })
        }
        yield* withState(
          args.state,
          Effect.gen(function* () {
            const store = yield* StateStore
            // The run's lock: resetting under a running pipeline would make it create records twice.
            const lock = `pipeline:${name}`
            const owner = `reset-${Math.random().toString(36).slice(2, 10)}`
            const acquired = yield* store.acquireLock(lock, owner, 60_000)
            if (!acquired) {
              return yield* new CliError({
                message: `pipeline "${name}" is running (lock ${lock} is held); wait for the run to end, then reset`,
              })
            }
            yield* Effect.ensuring(
              args.entity.length === 0
                ? store.reset(name)
                : Effect.forEach(args.entity, (entity) => store.reset(name, entity), { discard: true }),
              store.releaseLock(lock, owner).pipe(Effect.ignore),
            )
            yield* Console.log(
              `Reset ${what}: id map, checkpoints and dead letters cleared (${store.location}).`,
            )
          }),
        )
        yield* setExitCode(0)
      }),
    ),
).pipe(
  Command.withDescription(
    "forget what a pipeline (or some entities) wrote: id map, checkpoints, dead letters",
  ),
)

// ---------------------------------------------------------------------------------------------
// serve

const eventLine = (event: Scheduler.Event): string => {
  switch (event._tag) {
    case "Scheduled":
      return `${event.pipeline}: next run at ${Format.timestamp(event.next)}`
    case "Started":
      return `${event.pipeline}: run started${event.catchUp ? " (catching up a run missed while down)" : ""}`
    case "Skipped":
      return `${event.pipeline}: run at ${Format.timestamp(event.at)} skipped: ${event.reason}`
    case "Failed":
      return `${event.pipeline}: run at ${Format.timestamp(event.at)} failed: ${event.message}`
    case "Finished": {
      const r = event.report
      const sum = (k: "read" | "created" | "updated" | "unchanged" | "failed") =>
        Format.count(r.entities.reduce((n, e) => n + e[k], 0))
      return `${r.pipeline}: run ${r.status} in ${Format.duration(r.durationMs)} · read ${sum("read")} · created ${sum("created")} · updated ${sum("updated")} · unchanged ${sum("unchanged")} · failed ${sum("failed")} · dead letters ${Format.count(r.deadLetters)}${r.error === undefined ? "" : ` · ${r.error}`}`
    }
  }
}

const serve = Command.make(
  "serve",
  {
    pipelines: Args.text({ name: "pipeline" }).pipe(
      Args.withDescription("the pipelines to serve (default: every pipeline found that has a schedule)"),
      Args.repeated,
    ),
    state: stateOption,
    json: Options.boolean("json").pipe(Options.withDescription("print events as JSON lines")),
    leaseMs: Options.integer("lease-ms").pipe(
      Options.withDescription(
        "how long a run holds the pipeline's lock without renewing it: another `serve` takes over this long after a holder dies",
      ),
      Options.withDefault(60_000),
    ),
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const pipelines: Array<Pipeline.Pipeline> = []
        if (args.pipelines.length > 0) {
          for (const name of args.pipelines) pipelines.push((yield* PipelineLoader.load(name)).pipeline)
        } else {
          for (const entry of yield* PipelineLoader.loadAll) {
            if (entry._tag === "Failed")
              yield* Console.error(`warning: ${entry.file}: ${describeError(entry.error)}`)
            else if (Option.isSome(Pipeline.schedule(entry.loaded.pipeline)))
              pipelines.push(entry.loaded.pipeline)
          }
          if (pipelines.length === 0) {
            return yield* new CliError({
              message:
                'no pipeline with a `schedule` found; add one (e.g. schedule: "*/15 * * * *") or name the pipelines to serve',
            })
          }
        }
        const emit = (event: Scheduler.Event) =>
          Clock.currentTimeMillis.pipe(
            Effect.flatMap((now) =>
              Console.log(
                args.json ? JSON.stringify(event) : `${Format.timestamp(new Date(now))} ${eventLine(event)}`,
              ),
            ),
          )
        const stop = yield* Deferred.make<void>()
        const store = yield* Layer.build(State.layer(args.state)).pipe(Effect.map(Context.get(StateStore)))
        yield* Console.error(
          `serving ${pipelines.map((p) => p.name).join(", ")} (state: ${store.location}); interrupt to stop after the runs in progress`,
        )
        const served = Scheduler.serve({
          pipelines,
          stop: Deferred.await(stop),
          run: (pipeline, stopRun, tick) =>
            Runner.run(pipeline, { stop: stopRun, tick, lockLeaseMs: args.leaseMs }).pipe(
              Effect.provideService(StateStore, store),
              Effect.provide(ProgressDisplay.silent),
            ),
          isSkip: (e) =>
            e._tag === "RunError" && e.locked === true
              ? "another process is running it"
              : e._tag === "RunError" && e.alreadyRan === true
                ? "another process already ran it"
                : undefined,
          lastRunAt: (name) =>
            store.recentRuns(name, 1).pipe(
              Effect.map((runs) => runs[0]?.startedAt),
              Effect.orElseSucceed(() => undefined),
            ),
          onEvent: emit,
        })
        // As for `run`: a signal asks the scheduler to stop, and the runs in progress to finish their batches.
        yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            const fiber = yield* Effect.forkDaemon(restore(served))
            const first = yield* Effect.exit(restore(Fiber.await(fiber)))
            let result: Exit.Exit<void, unknown>
            if (Exit.isSuccess(first)) result = first.value
            else {
              yield* Console.error(
                "stopping: no new runs; waiting for the runs in progress to finish their batches",
              )
              yield* Deferred.succeed(stop, undefined)
              result = yield* Fiber.await(fiber)
            }
            if (Exit.isFailure(result)) return yield* result
            yield* Console.error("stopped")
            yield* setExitCode(0)
          }),
        )
      }).pipe(Effect.scoped),
    ),
).pipe(
  Command.withDescription("run scheduled pipelines on their cron times until interrupted (SIGINT/SIGTERM)"),
)

// ---------------------------------------------------------------------------------------------
// emulator

const emulator = Command.make(
  "emulator",
  {
    port: Options.integer("port").pipe(
      Options.withDescription("port to listen on (default: a free one)"),
      Options.optional,
    ),
    rate: Options.float("rate").pipe(
      Options.withDescription("requests per second (default 2)"),
      Options.optional,
    ),
    burst: Options.integer("burst").pipe(
      Options.withDescription("rate limit burst (default 50; 0 turns the limit off)"),
      Options.optional,
    ),
    latencyMs: Options.integer("latency-ms").pipe(
      Options.withDescription("added to every request (default 0)"),
      Options.optional,
    ),
    faults: Options.text("faults").pipe(
      Options.withDescription(
        "fault probabilities, e.g. 503=0.05,500=0.02,reset-before=0.01,reset-after=0.01",
      ),
      Options.optional,
    ),
    seed: Options.integer("seed").pipe(
      Options.withDescription("seed of the fault generator (default 1)"),
      Options.optional,
    ),
    https: Options.boolean("https").pipe(Options.withDescription("serve HTTPS with a generated certificate")),
    persist: Options.text("persist").pipe(
      Options.withDescription("load the portal from this JSON file and save it after each change"),
      Options.optional,
    ),
    operatingBudget: Options.integer("operating-budget").pipe(
      Options.withDescription(
        "operating time per method per 10 minutes, in seconds (default 480; 0 turns it off)",
      ),
      Options.optional,
    ),
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        // Loaded here so the other commands do not pay for the emulator's modules at start.
        const [Emulator, Faults] = yield* Effect.promise(() =>
          Promise.all([
            import("@b24etl/bitrix24-emulator/Serve"),
            import("@b24etl/bitrix24-emulator/Faults"),
          ]),
        )
        const faults = Option.map(args.faults, Faults.parse)
        if (Option.isSome(faults) && "error" in faults.value) {
          return yield* new CliError({ message: `--faults: ${faults.value.error}` })
        }
        const opt = <A>(o: Option.Option<A>) => Option.getOrUndefined(o)
        const options: Serve.ServeOptions = {
          ...(Option.isSome(args.port) ? { port: args.port.value } : {}),
          ...(Option.isSome(args.rate) || Option.isSome(args.burst)
            ? {
                rateLimit: {
                  ...(Option.isSome(args.rate) ? { rate: args.rate.value } : {}),
                  ...(Option.isSome(args.burst) ? { burst: args.burst.value } : {}),
                },
              }
            : {}),
          ...(Option.isSome(args.latencyMs) ? { latencyMs: args.latencyMs.value } : {}),
          ...(Option.isSome(faults) && !("error" in faults.value) ? { faults: faults.value } : {}),
          ...(Option.isSome(args.seed) ? { seed: args.seed.value } : {}),
          ...(args.https ? { https: true } : {}),
          ...(opt(args.persist) === undefined ? {} : { persistPath: opt(args.persist)! }),
          ...(Option.isSome(args.operatingBudget)
            ? { operatingTime: { budgetSeconds: args.operatingBudget.value } }
            : {}),
        }
        // The emulator serves until interrupted; that is how it is meant to stop.
        yield* setExitCode(0)
        return yield* Emulator.serve(options)
      }),
    ),
).pipe(Command.withDescription("serve a local Bitrix24 REST emulator (prints its webhook URL first)"))

// ---------------------------------------------------------------------------------------------
// demo seed

const demoSeed = Command.make(
  "seed",
  {
    url: Options.text("url").pipe(
      Options.withDescription(
        "the legacy database to create the demo CRM in: postgres://… or mysql://… (default: LEGACY_DATABASE_URL)",
      ),
      Options.optional,
    ),
    companies: Options.integer("companies").pipe(
      Options.withDescription("companies to generate (about 3 people and 2 opportunities each)"),
      Options.withDefault(1_000),
    ),
    seed: Options.integer("seed").pipe(
      Options.withDescription("seed of the generator: the same seed gives the same data"),
      Options.withDefault(1),
    ),
    reset: Options.boolean("reset").pipe(
      Options.withDescription(
        "drop the demo tables' data first (refused without it when the database has data)",
      ),
    ),
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const url = Option.isSome(args.url)
          ? Redacted.make(args.url.value)
          : yield* Config.redacted("LEGACY_DATABASE_URL").pipe(
              Effect.mapError(
                () =>
                  new CliError({
                    message:
                      "no legacy database: pass --url postgres://… or mysql://…, or set LEGACY_DATABASE_URL (without either, `run migrate-legacy` uses an embedded demo database)",
                  }),
              ),
            )
        // Loaded here so the other commands do not pay for the demo's modules at start.
        const [Database, Seed] = yield* Effect.promise(() =>
          Promise.all([import("@b24etl/pipelines/legacy/Database"), import("@b24etl/pipelines/legacy/seed")]),
        )
        const counts = yield* Effect.scoped(
          Effect.gen(function* () {
            const { db, dialect, location } = yield* Database.connect(url)
            const counts = yield* Seed.seed(db, dialect, {
              companies: args.companies,
              seed: args.seed,
              reset: args.reset,
            })
            yield* Console.log(`seeded the demo legacy CRM in ${location}:`)
            return counts
          }),
        )
        yield* Console.log(JSON.stringify(counts, null, 2))
        yield* setExitCode(0)
      }),
    ),
).pipe(
  Command.withDescription(
    "create and fill the demo legacy CRM (accounts, people, opportunities) in a database",
  ),
)

const demo = Command.make("demo", {}, () =>
  Console.log(`Choose a demo command: seed. See \`${invocation} demo --help\`.`),
).pipe(
  Command.withDescription("the demo legacy CRM that migrate-legacy reads"),
  Command.withSubcommands([demoSeed]),
)

// ---------------------------------------------------------------------------------------------

/** The command tree. */
export const command = Command.make("pipeline", {}, () =>
  Console.log(
    `Choose a command: list, plan, run, status, failures, retry, reset, serve, emulator, demo. See \`${invocation} --help\`.`,
  ),
).pipe(
  Command.withDescription("declarative, exactly-once ETL pipelines from legacy CRMs into Bitrix24"),
  Command.withSubcommands([list, plan, run, status, failures, retry, reset, serve, emulator, demo]),
)

const cli = Command.run(command, { name: "pipeline", version: "0.1.0" })

/**
 * Runs the command line (`argv` as in `process.argv`). Ends with the exit code set in `ExitCode`;
 * usage errors are printed by @effect/cli and end with 1.
 */
export const main = (
  argv: ReadonlyArray<string>,
): Effect.Effect<void, never, Env | CliApp.CliApp.Environment> =>
  cli(argv).pipe(
    Effect.catchAll((e) => (ValidationError.isValidationError(e) ? setExitCode(1) : reportFailure(e))),
  )
