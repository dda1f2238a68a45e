/** `pipeline serve`: runs scheduled pipelines on their cron times until interrupted. */

import * as Pipeline from "@b24etl/core/Pipeline"
import * as Runner from "@b24etl/core/Runner"
import * as Scheduler from "@b24etl/core/Scheduler"
import { StateStore } from "@b24etl/core/StateStore"
import { Args, Command, Options } from "@effect/cli"
import { Clock, Console, Context, Deferred, Effect, Layer, Option } from "effect"
import { CliError, describeError, handled, stateOption } from "../internal/common.js"
import * as Format from "../internal/format.js"
import { untilStopped } from "../internal/untilStopped.js"
import * as PipelineLoader from "../PipelineLoader.js"
import * as ProgressDisplay from "../ProgressDisplay.js"
import * as State from "../State.js"

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

export const serve = Command.make(
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
        yield* untilStopped(
          served,
          stop,
          "no new runs; waiting for the runs in progress to finish their batches",
        )
      }).pipe(Effect.scoped),
      { json: args.json },
    ),
).pipe(
  Command.withDescription("run scheduled pipelines on their cron times until interrupted (SIGINT/SIGTERM)"),
)
