/** `pipeline worker`: takes the pipelines' runs from the queue in PostgreSQL, with any number of other workers. */

import { hostname } from "node:os"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Runner from "@b24etl/core/Runner"
import { StateStore } from "@b24etl/core/StateStore"
import { Command, Options } from "@effect/cli"
import { Clock, Console, Context, Deferred, Effect, Layer, Option, Redacted } from "effect"
import * as CliConfig from "../Config.js"
import { CliError, describeError, handled, stateOption } from "../internal/common.js"
import * as Format from "../internal/format.js"
import { untilStopped } from "../internal/untilStopped.js"
import * as PipelineLoader from "../PipelineLoader.js"
import * as ProgressDisplay from "../ProgressDisplay.js"
import * as Queue from "../Queue.js"
import * as State from "../State.js"
import * as Worker from "../Worker.js"

const eventLine = (event: Worker.Event): string => {
  switch (event._tag) {
    case "Took":
      return `${event.pipeline}: took job ${event.job} (${event.scheduled ? "scheduled" : "queued"}${event.retry > 0 ? `, resumed: try ${event.retry + 1}` : ""}) on ${event.worker}`
    case "Finished": {
      const r = event.report
      const sum = (k: "read" | "created" | "updated" | "unchanged" | "failed") =>
        Format.count(r.entities.reduce((n, e) => n + e[k], 0))
      return `${r.pipeline}: job ${event.job} run ${r.runId} ${r.status} in ${Format.duration(r.durationMs)} · read ${sum("read")} · created ${sum("created")} · updated ${sum("updated")} · unchanged ${sum("unchanged")} · failed ${sum("failed")} · dead letters ${Format.count(r.deadLetters)}${r.error === undefined ? "" : ` · ${r.error}`}`
    }
    case "Released":
      return `${event.pipeline}: job ${event.job} released: ${event.reason}`
    case "Failed":
      return `${event.pipeline}: job ${event.job} failed: ${event.message}`
    case "Reclaimed":
      return `${event.pipeline}: job ${event.job} taken back from ${event.holder}, which stopped renewing its lock; queued again for any worker`
  }
}

/** `--pipelines a,b`: the names, each loaded; without it every pipeline found. */
const loadPipelines = (names: Option.Option<string>) =>
  Effect.gen(function* () {
    const pipelines: Array<Pipeline.Pipeline> = []
    if (Option.isSome(names)) {
      for (const name of names.value.split(",").map((n) => n.trim())) {
        if (name.length > 0) pipelines.push((yield* PipelineLoader.load(name)).pipeline)
      }
    } else {
      for (const entry of yield* PipelineLoader.loadAll) {
        if (entry._tag === "Failed")
          yield* Console.error(`warning: ${entry.file}: ${describeError(entry.error)}`)
        else pipelines.push(entry.loaded.pipeline)
      }
    }
    if (pipelines.length === 0)
      return yield* new CliError({ message: "no pipeline to work on: none found, or --pipelines named none" })
    // A schedule that does not parse stops the worker before it takes anything.
    for (const pipeline of pipelines) yield* Pipeline.cron(pipeline)
    return pipelines
  })

export const worker = Command.make(
  "worker",
  {
    pipelines: Options.text("pipelines").pipe(
      Options.withDescription(
        "the pipelines to work on, separated by commas (default: every pipeline found)",
      ),
      Options.optional,
    ),
    concurrency: Options.integer("concurrency").pipe(
      Options.withDescription("runs at once in this process, over all its pipelines"),
      Options.withDefault(4),
    ),
    state: stateOption,
    json: Options.boolean("json").pipe(Options.withDescription("print events as JSON lines")),
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        if (args.concurrency < 1)
          return yield* new CliError({ message: `--concurrency must be 1 or more, got ${args.concurrency}` })
        const url = yield* CliConfig.resolveStateUrl(args.state)
        yield* Queue.requirePostgres(url, "pipeline worker", Redacted.value(url))
        const pipelines = yield* loadPipelines(args.pipelines)
        const store = yield* Layer.build(State.layer(args.state)).pipe(Effect.map(Context.get(StateStore)))
        const boss = yield* Queue.open(Redacted.value(url), { worker: true })
        for (const pipeline of pipelines) yield* Queue.prepare(boss, pipeline, { schedule: true })
        const scheduled = pipelines.filter((p) => Option.isSome(Pipeline.schedule(p))).map((p) => p.name)
        yield* Console.error(
          `worker process ${process.pid} on host ${hostname()}: ${pipelines.map((p) => p.name).join(", ")} (scheduled: ${scheduled.length === 0 ? "none" : scheduled.join(", ")}); ${args.concurrency} at once; state ${store.location}; interrupt to stop after the runs in progress hand back their jobs`,
        )
        const emit = (event: Worker.Event) =>
          Clock.currentTimeMillis.pipe(
            Effect.flatMap((now) =>
              Console.log(
                args.json
                  ? JSON.stringify({ at: new Date(now).toISOString(), ...event })
                  : `${Format.timestamp(new Date(now))} ${eventLine(event)}`,
              ),
            ),
          )
        const stop = yield* Deferred.make<void>()
        const working = Worker.work({
          boss,
          pipelines,
          concurrency: args.concurrency,
          stop: Deferred.await(stop),
          run: (pipeline, options) =>
            Runner.run(pipeline, options).pipe(
              Effect.provideService(StateStore, store),
              Effect.provide(ProgressDisplay.silent),
            ),
          isLocked: (e) => e._tag === "RunError" && e.locked === true,
          onEvent: emit,
        }).pipe(Effect.provideService(StateStore, store))
        // As for `serve`: a signal stops taking jobs and asks the runs to finish their batches.
        yield* untilStopped(
          working,
          stop,
          "no new jobs; the runs in progress finish their batches and hand their jobs back",
        )
      }).pipe(Effect.scoped),
      { json: args.json },
    ),
).pipe(
  Command.withDescription(
    "take the pipelines' runs (scheduled and queued) from the queue in the PostgreSQL state store, with any number of other workers",
  ),
)
