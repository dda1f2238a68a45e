/** `pipeline run`, and the run with its progress display and report that `retry` shares. */

import * as Report from "@b24etl/core/Report"
import * as Runner from "@b24etl/core/Runner"
import { Command, Options } from "@effect/cli"
import { Console, Deferred, Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import * as CliConfig from "../Config.js"
import {
  CliError,
  checkEntities,
  entitiesOption,
  handled,
  hintName,
  invocation,
  jsonOption,
  pipelineArg,
  setExitCode,
  stateOption,
} from "../internal/common.js"
import * as Preload from "../internal/preload.js"
import * as PipelineLoader from "../PipelineLoader.js"
import * as ProgressDisplay from "../ProgressDisplay.js"
import * as Queue from "../Queue.js"
import * as ReportTable from "../ReportTable.js"
import * as State from "../State.js"

export const executeRun = (
  args: { readonly pipeline: string; readonly state: Option.Option<string>; readonly json: boolean },
  options: Runner.RunOptions,
) =>
  handled(
    Effect.gen(function* () {
      yield* Preload.connecting({ state: true })
      const { pipeline, order, reference } = yield* PipelineLoader.load(args.pipeline)
      yield* checkEntities(pipeline.name, order, options.entities ?? [])
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
            // The runner says how many batches it finishes; this says how to stop sooner.
            yield* Console.error("interrupted: reading stops now (press Ctrl-C again to quit at once)")
            yield* Deferred.succeed(stop, undefined)
            result = yield* Fiber.await(fiber)
          }
          if (Exit.isFailure(result)) return yield* result
          const report = result.value
          yield* Console.log(
            args.json
              ? JSON.stringify(report, null, 2)
              : `\n${ReportTable.render(report, invocation, hintName(reference))}`,
          )
          yield* setExitCode(Report.exitCode(report))
        }),
      )
    }),
    { json: args.json },
  )

/**
 * `run --queue`: the run goes to the pipeline's queue in the PostgreSQL state store, for whichever
 * `pipeline worker` is free; prints the job's id (`status` follows it).
 */
const enqueueRun = (
  args: { readonly pipeline: string; readonly state: Option.Option<string>; readonly json: boolean },
  options: Runner.RunOptions,
) =>
  handled(
    Effect.gen(function* () {
      if (options.dryRun === true)
        return yield* new CliError({
          message: "--queue and --dry-run do not go together: a dry run writes nothing, run it here",
        })
      const { pipeline, order } = yield* PipelineLoader.load(args.pipeline)
      yield* checkEntities(pipeline.name, order, options.entities ?? [])
      const url = yield* CliConfig.resolveStateUrl(args.state)
      yield* Queue.requirePostgres(url, "run --queue", Redacted.value(url))
      const boss = yield* Queue.open(Redacted.value(url), { worker: false })
      const id = yield* Queue.enqueue(boss, pipeline, {
        full: options.full,
        entities: options.entities,
        limit: options.limit,
        acceptSourceChange: options.acceptSourceChange,
      })
      yield* Console.log(
        args.json
          ? JSON.stringify({ pipeline: pipeline.name, job: id })
          : `queued run of ${pipeline.name}: job ${id} (a \`${invocation} worker\` takes it; \`${invocation} status ${pipeline.name}\` follows it)`,
      )
      yield* setExitCode(0)
    }).pipe(Effect.scoped),
    { json: args.json },
  )

/** `--accept-source-change`: the source moved (same records, another host or database). */
export const acceptSourceChangeOption = Options.boolean("accept-source-change").pipe(
  Options.withDescription(
    "the source's host or database differs from the one the state remembers and holds the same records: go on and remember it",
  ),
)

export const run = Command.make(
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
    full: Options.boolean("full").pipe(
      Options.withDescription(
        "read every record from the start, ignoring checkpoints, and update what changed (re-applies a changed mapping)",
      ),
    ),
    entity: entitiesOption,
    acceptSourceChange: acceptSourceChangeOption,
    queue: Options.boolean("queue").pipe(
      Options.withDescription(
        "queue the run for `pipeline worker` processes instead of running it here (PostgreSQL state only); prints the job id",
      ),
    ),
    state: stateOption,
    json: jsonOption,
  },
  (args) =>
    (args.queue ? enqueueRun : executeRun)(args, {
      acceptSourceChange: args.acceptSourceChange,
      dryRun: args.dryRun,
      full: args.full,
      limit: Option.getOrUndefined(args.limit),
      entities: args.entity.length === 0 ? undefined : args.entity,
    }),
).pipe(
  Command.withDescription(
    "run a pipeline: exit 0 when done, 1 when it failed or was interrupted, 2 when done with dead letters",
  ),
)
