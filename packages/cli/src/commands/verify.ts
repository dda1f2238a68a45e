/** `pipeline verify`: compares the source, the id map and the portal, and writes nothing. */

import * as Runner from "@b24etl/core/Runner"
import { Command, Options } from "@effect/cli"
import { Console, Deferred, Effect, Exit, Fiber, Option } from "effect"
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

/** The line said before the portal is read: how many requests, and how long at the portal's rate. */
export const renderEstimate = (pipeline: string, estimate: Runner.VerifyEstimate): string =>
  `Verify pipeline ${pipeline}: reads the portal with about ${Format.plural(estimate.requests, "request")} (${estimate.how}), ${estimate.durationMs < 1_000 ? "under a second" : `about ${Format.duration(estimate.durationMs)}`}; writes nothing`

const headings: Readonly<Record<Runner.FindingKind, string>> = {
  missing: "MISSING",
  extra: "EXTRA",
  duplicate: "DUPLICATE",
  link: "LINK",
  gone: "GONE FROM SOURCE",
  unmigrated: "NOT MIGRATED",
  content: "CONTENT",
}

/** The comparison as text: the counts per entity, then each finding with what to do. */
export const render = (result: Runner.VerifyResult): string => {
  const n = Format.count
  const lines: Array<string> = [
    Table.render(
      [
        { header: "ENTITY" },
        { header: "TARGET" },
        { header: "SOURCE", align: "right" },
        { header: "DELETED", align: "right" },
        { header: "ID MAP", align: "right" },
        { header: "PENDING", align: "right" },
        { header: "UNDONE", align: "right" },
        { header: "DEAD LETTERS", align: "right" },
        { header: "PORTAL", align: "right" },
        { header: "COMPARED", align: "right" },
      ],
      result.entities.map((e) => [
        e.entity,
        e.target,
        n(e.source),
        n(e.sourceDeleted),
        n(e.idMap.created),
        n(e.idMap.pending),
        n(e.idMap.deleting + e.idMap.deleted),
        n(e.deadLetters),
        n(e.portal),
        n(e.compared),
      ]),
    ),
    "",
    "SOURCE: records the mapping writes; DELETED: marked deleted or filtered out; ID MAP: rows created; PORTAL: items of the pipeline's originator; COMPARED: records whose mapped fields were compared with their item (--sample).",
  ]
  if (result.interrupted) {
    lines.push("", "Stopped before the comparison: nothing was compared.")
    return lines.join("\n")
  }
  if (result.findings.length === 0) {
    lines.push(
      "",
      "Everything matches: every record is in the portal once, with its links and compared fields.",
    )
    return lines.join("\n")
  }
  lines.push("", `${Format.plural(result.findings.length, "difference")}:`)
  for (const kind of Object.keys(headings) as Array<Runner.FindingKind>) {
    const found = result.findings
      .filter((f) => f.kind === kind)
      .sort((a, b) => Format.naturalCompare(`${a.entity}:${a.key}`, `${b.entity}:${b.key}`))
    if (found.length === 0) continue
    lines.push("", `${headings[kind]} (${n(found.length)})`)
    const shown = found.slice(0, 50)
    for (const f of shown) lines.push(`  ${f.message} -> ${f.action}`)
    if (found.length > shown.length)
      lines.push(`  ... and ${n(found.length - shown.length)} more (--json lists every one)`)
  }
  return lines.join("\n")
}

/** `--sample`: a number of records or `all`. */
const parseSample = (raw: string): Effect.Effect<number | "all", CliError> => {
  const text = raw.trim().toLowerCase()
  if (text === "all") return Effect.succeed("all")
  if (/^\d+$/.test(text)) return Effect.succeed(Number(text))
  return Effect.fail(new CliError({ message: `--sample: '${raw}' is not a number of records or "all"` }))
}

export const verify = Command.make(
  "verify",
  {
    pipeline: pipelineArg,
    entity: entitiesOption,
    sample: Options.text("sample").pipe(
      Options.withDescription("records per entity compared field by field (default 100), or all"),
      Options.optional,
    ),
    state: stateOption,
    json: jsonOption,
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const { pipeline, order } = yield* PipelineLoader.load(args.pipeline)
        yield* checkEntities(pipeline.name, order, args.entity)
        const sample = Option.isSome(args.sample) ? yield* parseSample(args.sample.value) : 100
        const stop = yield* Deferred.make<void>()
        const options: Runner.VerifyOptions = {
          entities: args.entity.length === 0 ? undefined : args.entity,
          sample,
          // With --json, stdout holds only the document.
          onEstimate: (estimate) =>
            (args.json ? Console.error : Console.log)(renderEstimate(pipeline.name, estimate)),
          stop: Deferred.await(stop),
        }
        // Ctrl-C interrupts this fiber: verify is told to stop (its reading halts) and what it
        // answers is still printed, inside the mask, as `run` does. Verify is a daemon so the
        // signal does not reach it directly.
        yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            const fiber = yield* Effect.forkDaemon(
              restore(Runner.verify(pipeline, options).pipe(Effect.provide(State.layer(args.state)))),
            )
            const first = yield* Effect.exit(restore(Fiber.await(fiber)))
            let exit: Exit.Exit<Runner.VerifyResult, unknown>
            if (Exit.isSuccess(first)) exit = first.value
            else {
              yield* Console.error("stopping: nothing was written (interrupt again to quit at once)")
              yield* Deferred.succeed(stop, undefined)
              exit = yield* Fiber.await(fiber)
            }
            if (Exit.isFailure(exit)) return yield* exit
            const result = exit.value
            yield* Console.log(args.json ? JSON.stringify(result, null, 2) : `\n${render(result)}`)
            const actions = new Set(result.findings.map((f) => f.action))
            if (!args.json && actions.size > 0)
              yield* Console.log(
                `\nWhat to do: ${[...actions]
                  .map((a) =>
                    a === "delete in portal"
                      ? "delete the items named in the portal"
                      : a === "relink"
                        ? `\`${invocation} relink ${pipeline.name} --entity <entity>\`, then \`${invocation} run ${pipeline.name}\``
                        : a === "retry"
                          ? `\`${invocation} failures ${pipeline.name}\`, then \`${invocation} retry ${pipeline.name}\``
                          : `\`${invocation} ${a} ${pipeline.name}\``,
                  )
                  .join("; ")}.`,
              )
            yield* setExitCode(Runner.verified(result) ? 0 : 1)
          }),
        )
      }),
      { json: args.json },
    ),
).pipe(
  Command.withDescription(
    "compare the source, the id map and the portal per entity; report each difference once, with what to do; writes nothing",
  ),
)
