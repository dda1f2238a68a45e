/** `pipeline plan`: checks a pipeline without writing. */

import * as Runner from "@b24etl/core/Runner"
import { Command, Options } from "@effect/cli"
import { Console, Duration, Effect } from "effect"
import { handled, jsonOption, pipelineArg, setExitCode, stateOption } from "../internal/common.js"
import * as Format from "../internal/format.js"
import * as Preload from "../internal/preload.js"
import * as Table from "../internal/table.js"
import * as PipelineLoader from "../PipelineLoader.js"
import * as State from "../State.js"

export const plan = Command.make(
  "plan",
  {
    pipeline: pipelineArg,
    sample: Options.integer("sample").pipe(
      Options.withDescription("records read per entity to check the mapped fields (default 20)"),
      Options.withDefault(20),
    ),
    full: Options.boolean("full").pipe(
      Options.withDescription(
        "also read every record and count what `run --full` would update (compares with the id map)",
      ),
    ),
    state: stateOption,
    json: jsonOption,
  },
  (args) =>
    handled(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Preload.connecting({ state: false })
          const { pipeline, file } = yield* PipelineLoader.load(args.pipeline)
          // A plan may refresh an OAuth token: the rotated one goes to the state store, opened only then.
          const credentials = yield* State.lazyCredentials(args.state)
          const planned = Runner.plan(pipeline, { sample: args.sample, credentials, full: args.full })
          const result = yield* args.full ? Effect.provide(planned, State.layer(args.state)) : planned
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
            for (const e of result.entities)
              if (e.changed !== undefined)
                yield* Console.log(
                  `Changed since last written (run --full): ${e.entity}: ${Format.count(e.changed.updates)} to update, ${Format.count(e.changed.creates)} to create`,
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
      { json: args.json },
    ),
).pipe(
  Command.withDescription(
    "check a pipeline without writing: entity order, record counts, mapped fields, estimated duration",
  ),
)
