/** `pipeline failures`: the dead letters of a pipeline. */

import { StateStore } from "@b24etl/core/StateStore"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import {
  handled,
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

export const failures = Command.make(
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
