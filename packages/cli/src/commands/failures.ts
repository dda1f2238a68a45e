/** `pipeline failures`: the dead letters of a pipeline. */

import type { DroppedField } from "@b24etl/core/Dropped"
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

/** The values dropped in a run, from the stats the runner keeps with it (`{ dropped: [...] }`). */
const droppedOf = (stats: unknown): ReadonlyArray<DroppedField> => {
  const dropped = (stats as { dropped?: unknown } | null)?.dropped
  return Array.isArray(dropped) ? (dropped as ReadonlyArray<DroppedField>) : []
}

/** `failures --warnings`: what field helpers dropped in the pipeline's last finished run. */
const listDropped = (
  store: StateStore,
  name: string,
  args: { readonly entity: Option.Option<string>; readonly limit: number; readonly json: boolean },
) =>
  Effect.gen(function* () {
    const last = (yield* store.recentRuns(name, 10)).find((r) => r.status !== "running")
    const dropped = droppedOf(last?.stats).filter(
      (d) => Option.isNone(args.entity) || d.entity === args.entity.value,
    )
    if (args.json) return yield* Console.log(JSON.stringify(dropped, null, 2))
    if (last === undefined || dropped.length === 0) {
      return yield* Console.log(
        last === undefined
          ? `No run of pipeline ${name} yet.`
          : `No values dropped by field helpers in the last run of pipeline ${name} (${last.id}).`,
      )
    }
    const shown = dropped.slice(0, args.limit)
    yield* Console.log(
      Table.render(
        [
          { header: "ENTITY" },
          { header: "KEY" },
          { header: "FIELD" },
          { header: "VALUE" },
          { header: "REASON" },
        ],
        shown.map((d) => [d.entity, d.sourceKey, d.field, d.value, d.reason]),
      ),
    )
    yield* Console.log("")
    yield* Console.log(
      `${shown.length < dropped.length ? `Showing ${Format.count(shown.length)} of ${Format.count(dropped.length)}. ` : ""}Values field helpers dropped in run ${last.id}: fix them in the source, or map them differently.`,
    )
  })

export const failures = Command.make(
  "failures",
  {
    pipeline: pipelineArg,
    entity: Options.text("entity").pipe(Options.withDescription("only this entity"), Options.optional),
    warnings: Options.boolean("warnings").pipe(
      Options.withDescription(
        "instead: the values field helpers (emails, phones, webs) dropped in the last run: entity, key, field, value, reason",
      ),
    ),
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
            if (args.warnings) {
              yield* listDropped(store, name, args)
              return
            }
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
