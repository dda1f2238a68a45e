/**
 * `pipeline failures`: the dead letters of a pipeline; `--dismiss <key...>` / `--dismiss-code`
 * acknowledge known-bad records (listed as dismissed, not retried, no exit 2).
 */

import type { DroppedField } from "@b24etl/core/Dropped"
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
    // In the order the run wrote the entities, keys in natural order (2 before 10).
    const entityOrder: Array<string> = []
    const dropped = droppedOf(last?.stats)
      .filter((d) => Option.isNone(args.entity) || d.entity === args.entity.value)
      .map((d) => {
        if (!entityOrder.includes(d.entity)) entityOrder.push(d.entity)
        return d
      })
      .sort(
        (a, b) =>
          entityOrder.indexOf(a.entity) - entityOrder.indexOf(b.entity) ||
          Format.naturalCompare(a.sourceKey, b.sourceKey),
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
    dismiss: Options.text("dismiss").pipe(
      Options.withDescription(
        "acknowledge the dead letters of these keys (with --entity, of that entity only): they stay listed as dismissed, are not retried, and no longer make a run exit 2; a new failure of another kind counts again",
      ),
      Options.repeated,
    ),
    dismissCode: Options.text("dismiss-code").pipe(
      Options.withDescription(
        "acknowledge every dead letter with this code (with --entity, of that entity only)",
      ),
      Options.optional,
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
            const hint = hintName(reference)
            if (args.warnings) {
              yield* listDropped(store, name, args)
              return
            }
            const code = Option.getOrUndefined(args.dismissCode)
            if (args.dismiss.length > 0 || code !== undefined) {
              const dismissed = yield* store.dismissDeadLetters(name, {
                entity,
                keys: args.dismiss.length > 0 ? args.dismiss : undefined,
                code,
              })
              const which = [
                entity === undefined ? undefined : `entity ${entity}`,
                args.dismiss.length > 0
                  ? `key${args.dismiss.length > 1 ? "s" : ""} ${args.dismiss.join(", ")}`
                  : undefined,
                code === undefined ? undefined : `code ${code}`,
              ]
                .filter((w) => w !== undefined)
                .join(", ")
              yield* Console.log(
                `Dismissed ${Format.count(dismissed)} dead letter${dismissed === 1 ? "" : "s"} of pipeline ${name} (${which}). They stay listed; \`${invocation} retry ${hint}\` skips them, and runs no longer exit 2 for them unless they fail another way.`,
              )
              return
            }
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
                  { header: "DISMISSED" },
                  { header: "MESSAGE" },
                ],
                letters.map((d) => [
                  d.entity,
                  d.sourceKey,
                  d.stage,
                  d.code,
                  String(d.attempts),
                  d.dismissedAt === null ? "" : d.dismissedAt.toISOString().slice(0, 10),
                  d.message,
                ]),
              ),
            )
            yield* Console.log("")
            yield* Console.log(
              `${letters.length < all.length ? `Showing ${Format.count(letters.length)} of ${Format.count(all.length)} (--limit). ` : ""}Payloads: \`${invocation} failures ${hint} --json\`. Replay after fixing: \`${invocation} retry ${hint}\`; acknowledge known-bad ones: \`${invocation} failures ${hint} --dismiss <key...>\`.`,
            )
          }),
        )
        yield* setExitCode(0)
      }),
      { json: args.json },
    ),
).pipe(
  Command.withDescription(
    "list the dead letters: entity, key, stage, code, message, attempts, dismissed; --dismiss acknowledges known-bad ones",
  ),
)
