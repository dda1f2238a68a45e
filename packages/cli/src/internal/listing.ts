/**
 * `pipeline list`: the pipelines found, with their entities, schedule and description. Apart from
 * the command's declaration (`commands/list.ts`) so that `Cli.ts` can run a plain `list` without
 * loading @effect/cli and the other commands: it must start at once.
 */

import * as Pipeline from "@b24etl/core/Pipeline"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PipelineLoader from "../PipelineLoader.js"
import { describeError, handled } from "./handled.js"
import { setExitCode } from "./program.js"
import * as Table from "./table.js"

const scheduleText = (pipeline: Pipeline.Pipeline): string =>
  Option.match(Pipeline.schedule(pipeline), {
    onNone: () => "on demand",
    onSome: (s) => `${s.cron}${s.timeZone ? ` (${s.timeZone})` : ""}`,
  })

/** What `pipeline list [--json]` prints, and its exit code (1 when a file did not load). */
export const listPipelines = ({ json }: { readonly json: boolean }) =>
  handled(
    Effect.gen(function* () {
      const entries = yield* PipelineLoader.loadAll
      const dirs = yield* PipelineLoader.directories
      const loaded = entries.flatMap((e) => (e._tag === "Loaded" ? [e.loaded] : []))
      const failed = entries.flatMap((e) => (e._tag === "Failed" ? [e] : []))
      if (json) {
        yield* Console.log(
          JSON.stringify(
            {
              pipelines: loaded.map((l) => ({
                name: l.pipeline.name,
                file: l.file,
                entities: l.order,
                schedule: Option.getOrNull(Pipeline.schedule(l.pipeline)),
                description: l.pipeline.description ?? null,
              })),
              errors: failed.map((f) => ({ file: f.file, error: describeError(f.error) })),
            },
            null,
            2,
          ),
        )
      } else if (entries.length === 0) {
        yield* Console.log(
          dirs.length === 0
            ? "No pipelines: there is no pipelines/ directory here (set PIPELINE_DIR, or run from the project root)."
            : `No pipeline files in ${dirs.join(", ")}.`,
        )
      } else {
        if (loaded.length > 0) {
          yield* Console.log(
            Table.render(
              [{ header: "NAME" }, { header: "ENTITIES" }, { header: "SCHEDULE" }, { header: "DESCRIPTION" }],
              loaded.map((l) => [
                l.pipeline.name,
                l.order.join(", "),
                scheduleText(l.pipeline),
                l.pipeline.description ?? "",
              ]),
            ),
          )
        }
        if (failed.length > 0) {
          yield* Console.log(`${loaded.length > 0 ? "\n" : ""}Could not load:`)
          for (const f of failed) yield* Console.log(`  ${f.file}: ${describeError(f.error)}`)
        }
      }
      yield* setExitCode(failed.length > 0 ? 1 : 0)
    }),
    { json },
  )
