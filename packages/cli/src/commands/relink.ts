/** `pipeline relink`: rebuilds a pipeline's id map from the portal, by the items its originator owns there. */

import * as Progress from "@b24etl/core/Progress"
import * as Runner from "@b24etl/core/Runner"
import { StateStore } from "@b24etl/core/StateStore"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Layer } from "effect"
import {
  CliError,
  entitiesOption,
  handled,
  invocation,
  jsonOption,
  pipelineArg,
  setExitCode,
  stateOption,
} from "../internal/common.js"
import * as Format from "../internal/format.js"
import * as Table from "../internal/table.js"
import * as PipelineLoader from "../PipelineLoader.js"
import * as State from "../State.js"

/** The relink's outcome as text. */
export const render = (result: Runner.RelinkResult): string => {
  const n = Format.count
  const lines: Array<string> = [
    `Relinked pipeline ${result.pipeline} to ${result.target}${result.previousTarget === undefined ? "" : ` (its state belonged to ${result.previousTarget})`}`,
    "",
    Table.render(
      [
        { header: "ENTITY" },
        { header: "TARGET" },
        { header: "ADOPTED", align: "right" },
        { header: "NEW IDS", align: "right" },
        { header: "NO ITEM", align: "right" },
        { header: "DUPLICATES", align: "right" },
      ],
      result.entities.map((e) => [
        e.entity,
        e.target,
        n(e.adopted),
        n(e.changed),
        n(e.missing),
        n(e.duplicates.length),
      ]),
    ),
    "",
    "ADOPTED: items of this pipeline found in the portal, now in the id map (the next run updates them once, creates none of them).",
    "NEW IDS: of those, the ones the id map did not have or had under another id. NO ITEM: id-map rows with no item in the portal, forgotten (the next run creates them).",
  ]
  const duplicated = result.entities.filter((e) => e.duplicates.length > 0)
  if (duplicated.length > 0) {
    lines.push("")
    lines.push(
      "Records that exist more than once in the portal were left out of the id map (none picked); they are dead letters (DUPLICATE_IN_TARGET) that every run holds back. Delete the extra items, keeping one of each, then relink again:",
    )
    for (const e of duplicated)
      for (const d of e.duplicates) lines.push(`  ${e.entity}:${d.key} -> ids ${d.targetIds.join(", ")}`)
  }
  return lines.join("\n")
}

export const relink = Command.make(
  "relink",
  {
    pipeline: pipelineArg,
    entity: entitiesOption,
    yes: Options.boolean("yes").pipe(
      Options.withDescription(
        "confirm replacing an id map that is not empty (its checkpoints and dead letters too)",
      ),
    ),
    state: stateOption,
    json: jsonOption,
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const { pipeline, order } = yield* PipelineLoader.load(args.pipeline)
        const entities = args.entity.length === 0 ? order : args.entity
        const result = yield* Effect.gen(function* () {
          const store = yield* StateStore
          const rows = (yield* store.idMapCounts(pipeline.name))
            .filter((c) => entities.includes(c.entity))
            .reduce((s, c) => s + c.count, 0)
          // An empty id map (a lost state, a reset) has nothing to lose: relink needs no confirmation then.
          if (rows > 0 && !args.yes) {
            return yield* new CliError({
              message: `refusing to relink pipeline "${pipeline.name}" without --yes: its id map holds ${Format.plural(rows, "row")}, which relink replaces with what the portal holds (and it forgets the checkpoints and dead letters of ${entities.join(", ")}, so the next run reads every record again). Add --yes to confirm.`,
            })
          }
          return yield* Runner.relink(pipeline, {
            entities: args.entity.length === 0 ? undefined : args.entity,
          })
        }).pipe(Effect.provide(Layer.merge(State.layer(args.state), Progress.silent)))
        yield* Console.log(args.json ? JSON.stringify(result, null, 2) : render(result))
        const duplicates = result.entities.some((e) => e.duplicates.length > 0)
        if (!args.json)
          yield* Console.log(
            duplicates
              ? `\nNext: delete the extra items listed above, then relink again; until then \`${invocation} run ${pipeline.name}\` holds those records back and writes the rest.`
              : `\nNext: \`${invocation} run ${pipeline.name}\` updates the adopted items and creates what is missing.`,
          )
        yield* setExitCode(duplicates ? 2 : 0)
      }),
    ),
).pipe(
  Command.withDescription(
    "rebuild a pipeline's id map from the portal by its originator (after a lost state, a reset, or to move the state to another portal); exit 2 when some records exist more than once there",
  ),
)
