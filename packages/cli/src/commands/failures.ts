/** `pipeline failures`: the dead letters of a pipeline. */

import { StateStore } from "@b24etl/core/StateStore"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import {
  checkEntities,
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
        const { name, reference, loaded } = yield* pipelineName(args.pipeline)
        const entity = Option.getOrUndefined(args.entity)
        yield* withState(
          args.state,
          Effect.gen(function* () {
            const store = yield* StateStore
            // The entities to accept: the pipeline's, or, when its file does not load, those in the state.
            const known = Option.isSome(loaded)
              ? loaded.value.order
              : [...new Set((yield* store.idMapCounts(name)).map((c) => c.entity))]
            if (entity !== undefined && known.length > 0) yield* checkEntities(name, known, [entity])
            // All of them, to list keys in natural order (2 before 10) before taking the first `--limit`.
            const all = yield* store.deadLetters(name, { entity })
            const rank = (e: string) => (known.includes(e) ? known.indexOf(e) : known.length)
            const letters = [...all]
              .sort(
                (a, b) =>
                  rank(a.entity) - rank(b.entity) ||
                  a.entity.localeCompare(b.entity) ||
                  Format.naturalCompare(a.sourceKey, b.sourceKey),
              )
              .slice(0, Math.max(0, args.limit))
            if (args.json) {
              yield* Console.log(JSON.stringify(letters, null, 2))
              return
            }
            if (letters.length === 0) {
              yield* Console.log(
                `No dead letters for pipeline ${name}${entity === undefined ? "" : `, entity ${entity}`}.`,
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
            const hint = hintName(reference)
            yield* Console.log("")
            yield* Console.log(
              `${letters.length < all.length ? `Showing ${Format.count(letters.length)} of ${Format.count(all.length)} (--limit). ` : ""}Payloads: \`${invocation} failures ${hint} --json\`. Replay after fixing: \`${invocation} retry ${hint}\`.`,
            )
          }),
        )
        yield* setExitCode(0)
      }),
      { json: args.json },
    ),
).pipe(Command.withDescription("list the dead letters: entity, key, stage, code, message, attempts"))
