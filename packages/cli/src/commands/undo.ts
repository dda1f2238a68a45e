/** `pipeline undo`: deletes from the portal what a run (or the pipeline) created. */

import * as Progress from "@b24etl/core/Progress"
import * as Runner from "@b24etl/core/Runner"
import { Command, Options } from "@effect/cli"
import { Console, Deferred, Effect, Exit, Fiber, Layer, Option } from "effect"
import {
  CliError,
  checkEntities,
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

/** Said with every undo: the items a run only updated keep their new values. */
export const updatesNote = "Updates are not undone: items a run only updated keep the values it wrote."

const scope = (pipeline: string, run: string | undefined): string =>
  run === undefined ? `pipeline ${pipeline}` : `run ${run} of pipeline ${pipeline}`

/** What undo is about to delete, to confirm. */
export const renderCounts = (
  pipeline: string,
  run: string | undefined,
  counts: ReadonlyArray<Runner.UndoCounts>,
): string =>
  [
    `Undo ${scope(pipeline, run)}: deletes these items from the portal (in this order)`,
    "",
    Table.render(
      [{ header: "ENTITY" }, { header: "TARGET" }, { header: "ITEMS", align: "right" }],
      counts.map((c) => [c.entity, c.target, Format.count(c.items)]),
    ),
    "",
    "Each item is checked before it is deleted: one that no longer carries this pipeline's identity is left alone.",
    updatesNote,
  ].join("\n")

/** The undo's outcome as text. */
export const render = (result: Runner.UndoResult): string => {
  const n = Format.count
  const total = result.entities.reduce((s, e) => s + e.items, 0)
  if (total === 0)
    return `Nothing to undo for ${scope(result.pipeline, result.run)}: the id map holds no item it created.`
  if (result.dryRun)
    return `${renderCounts(result.pipeline, result.run, result.entities)}\n\nDry run: nothing was deleted.`
  if (!result.confirmed) return `Nothing was deleted.`
  const lines: Array<string> = [
    `Undid ${scope(result.pipeline, result.run)}${result.interrupted ? " (stopped before the end)" : ""}`,
    "",
    Table.render(
      [
        { header: "ENTITY" },
        { header: "TARGET" },
        { header: "ITEMS", align: "right" },
        { header: "DELETED", align: "right" },
        { header: "LEFT ALONE", align: "right" },
        { header: "FAILED", align: "right" },
      ],
      result.entities.map((e) => [
        e.entity,
        e.target,
        n(e.items),
        n(e.deleted),
        n(e.skipped.length),
        n(e.failed.length),
      ]),
    ),
    "",
    "LEFT ALONE: the portal has no item with this id carrying the record's identity for this pipeline (deleted by hand, or not ours): not deleted, and forgotten in the id map.",
    updatesNote,
  ]
  for (const e of result.entities) {
    for (const s of e.skipped)
      lines.push(
        `  ${e.entity}:${s.key} item ${s.targetId} left alone${s.foundId === undefined ? "" : ` (the portal's item for it is ${s.foundId})`}`,
      )
    for (const f of e.failed)
      lines.push(`  ${e.entity}:${f.key} item ${f.targetId} not deleted: ${f.code} ${f.message}`)
  }
  return lines.join("\n")
}

/** Asks on the terminal; answers false at once without one (a script must say --yes). */
const ask = (question: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    const readline = await import("node:readline/promises")
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout })
    try {
      return /^y(es)?$/i.test((await rl.question(question)).trim())
    } finally {
      rl.close()
    }
  })

export const undo = Command.make(
  "undo",
  {
    pipeline: pipelineArg,
    run: Options.text("run").pipe(
      Options.withDescription("only what this run created (its id, as `status` lists it)"),
      Options.optional,
    ),
    entity: entitiesOption,
    dryRun: Options.boolean("dry-run").pipe(
      Options.withDescription("count what would be deleted; delete nothing"),
    ),
    yes: Options.boolean("yes").pipe(Options.withDescription("delete without asking")),
    state: stateOption,
    json: jsonOption,
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const { pipeline, order } = yield* PipelineLoader.load(args.pipeline)
        yield* checkEntities(pipeline.name, order, args.entity)
        const run = Option.getOrUndefined(args.run)
        if (run !== undefined && args.entity.length > 0)
          return yield* new CliError({ message: "give --run or --entity, not both" })
        // A question would mix with `--json` output: a script says --yes.
        const interactive = !args.json && process.stdin.isTTY === true && process.stdout.isTTY === true
        let refused = false
        const confirm = (counts: ReadonlyArray<Runner.UndoCounts>) =>
          Effect.gen(function* () {
            if (args.yes) return true
            if (!args.json) yield* Console.log(renderCounts(pipeline.name, run, counts))
            if (!interactive) {
              refused = true
              return false
            }
            const total = counts.reduce((s, c) => s + c.items, 0)
            const yes = yield* ask(`\nDelete ${Format.plural(total, "item")}? [y/N] `)
            refused = !yes
            return yes
          })
        const stop = yield* Deferred.make<void>()
        const options: Runner.UndoOptions = {
          run,
          entities: args.entity.length === 0 ? undefined : args.entity,
          dryRun: args.dryRun,
          confirm,
          stop: Deferred.await(stop),
        }
        const layer = Layer.merge(State.layer(args.state), Progress.silent)
        // What undo answered, printed with its exit code.
        const finish = (result: Runner.UndoResult) =>
          Effect.gen(function* () {
            if (refused && !args.yes && !interactive)
              return yield* new CliError({
                message: `refusing to undo without --yes when not on a terminal (or with --json): nothing was deleted. Check the counts (\`${invocation} undo ${pipeline.name} --dry-run\`), then add --yes`,
              })
            yield* Console.log(args.json ? JSON.stringify(result, null, 2) : render(result))
            const unfinished = result.interrupted || result.entities.some((e) => e.failed.length > 0)
            if (!args.json && unfinished)
              yield* Console.log(
                `\nNext: \`${invocation} undo ${pipeline.name}${run ? ` --run ${run}` : ""}\` again finishes the job.`,
              )
            else if (
              !args.json &&
              result.confirmed &&
              !result.dryRun &&
              result.entities.some((e) => e.deleted > 0)
            )
              yield* Console.log(
                `\nNext: \`${invocation} run ${pipeline.name}\` creates these records again, when wanted.`,
              )
            yield* setExitCode(unfinished || !result.confirmed ? 1 : 0)
          })
        // Ctrl-C tells the undo to stop after the batch in flight (recorded), as a run does; what
        // it answers is still printed, inside the mask (outside, the interrupted fiber would stop
        // before printing).
        yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            const fiber = yield* Effect.forkDaemon(
              restore(Runner.undo(pipeline, options).pipe(Effect.provide(layer))),
            )
            const first = yield* Effect.exit(restore(Fiber.await(fiber)))
            if (Exit.isSuccess(first)) return yield* finish(yield* first.value)
            yield* Console.error("stopping: finishing the batch in flight (interrupt again to quit at once)")
            yield* Deferred.succeed(stop, undefined)
            return yield* finish(yield* yield* Fiber.await(fiber))
          }),
        )
      }),
      { json: args.json },
    ),
).pipe(
  Command.withDescription(
    "delete from the portal what a run (--run) or the pipeline created, children first; only items that still carry the pipeline's identity; updates are not undone",
  ),
)
