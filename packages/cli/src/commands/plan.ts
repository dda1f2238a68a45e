/** `pipeline plan`: checks a pipeline without writing. */

import * as Runner from "@b24etl/core/Runner"
import { Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Either, Layer } from "effect"
import {
  describeError,
  handled,
  hintName,
  invocation,
  jsonOption,
  pipelineArg,
  setExitCode,
  stateOption,
} from "../internal/common.js"
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
          // The state says what is left to write. A store that cannot be opened (another process
          // holds the embedded one) leaves the plan counting every record, and says so; `--full`
          // needs it.
          const opened = yield* Effect.either(Layer.build(State.layer(args.state)))
          if (Either.isLeft(opened) && args.full) return yield* Effect.fail(opened.left)
          const result = Either.isRight(opened)
            ? yield* Runner.plan(pipeline, { sample: args.sample, full: args.full }).pipe(
                Effect.provide(opened.right),
              )
            : // A plan may refresh an OAuth token: the rotated one goes to the state store, opened only then.
              yield* Runner.plan(pipeline, {
                sample: args.sample,
                credentials: yield* State.lazyCredentials(args.state),
              })
          const stateUnread = Either.isLeft(opened) ? describeError(opened.left) : undefined
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
            const lefts = result.entities.flatMap((e) => (e.left === undefined ? [] : [e.left]))
            const counted = lefts.length === result.entities.length
            const n = (value: number) => Format.count(value)
            yield* Console.log(
              Table.render(
                [
                  { header: "ENTITY" },
                  { header: "TARGET" },
                  { header: "SOURCE" },
                  { header: "RECORDS", align: "right" },
                  ...(counted
                    ? ([
                        { header: "NEW", align: "right" },
                        { header: "CHANGED", align: "right" },
                        { header: "UNCHANGED", align: "right" },
                        { header: "PENDING", align: "right" },
                        { header: "DEAD", align: "right" },
                      ] as const)
                    : []),
                  { header: "FIELDS" },
                ],
                result.entities.map((e) => [
                  e.entity,
                  e.target,
                  e.source,
                  e.count === undefined ? "?" : n(e.count),
                  ...(counted && e.left !== undefined
                    ? [
                        n(e.left.creates),
                        n(e.left.updates + e.left.deletes),
                        n(e.left.unchanged),
                        n(e.left.pending),
                        n(e.left.deadLetters),
                      ]
                    : []),
                  e.fields.join(", "),
                ]),
              ),
            )
            const total = result.entities.reduce((sum, e) => sum + (e.count ?? 0), 0)
            yield* Console.log("")
            yield* Console.log(
              `Records: ${n(total)}${result.entities.some((e) => e.count === undefined) ? " (and more from sources that cannot count)" : ""}`,
            )
            const sum = (f: (l: Runner.Left) => number) => lefts.reduce((s, l) => s + f(l), 0)
            const hint = hintName(args.pipeline)
            if (counted) {
              const read = result.entities.every((e) => e.left!.fromStart)
                ? "every record read"
                : "records read after the checkpoints"
              yield* Console.log(
                `Given the state (${read}): ${n(sum((l) => l.creates))} new, ${n(sum((l) => l.updates + l.deletes))} changed, ${n(sum((l) => l.unchanged))} unchanged, ${n(sum((l) => l.pending))} pending (sent by an interrupted run; looked up in the target before anything is sent again), ${n(sum((l) => l.deadLetters))} dead letters (\`${invocation} retry ${hint}\` tries them; \`run\` does not)`,
              )
            }
            const leftToWrite = sum((l) => l.creates + l.updates + l.deletes + l.pending)
            if (counted && leftToWrite === 0) yield* Console.log("Nothing left to write: 0 requests, no time")
            else
              yield* Console.log(
                result.sink.estimate === undefined
                  ? "Estimated duration: unknown (the sink cannot tell)"
                  : `Estimated duration: ${Duration.toMillis(result.sink.estimate) < 1_000 ? "under a second" : Format.duration(Duration.toMillis(result.sink.estimate))} at the sink's rate${counted ? `, for the ${n(leftToWrite)} records left to write` : ""}`,
              )
            if (stateUnread !== undefined)
              yield* Console.log(
                `Note: the state could not be read (${stateUnread}): the estimate counts every record`,
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
