/** `pipeline list`: the pipelines found, with their entities, schedule and description. */

import * as Pipeline from "@b24etl/core/Pipeline"
import { Command } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { describeError, handled, jsonOption, setExitCode } from "../internal/common.js"
import * as Table from "../internal/table.js"
import * as PipelineLoader from "../PipelineLoader.js"

const scheduleText = (pipeline: Pipeline.Pipeline): string =>
  Option.match(Pipeline.schedule(pipeline), {
    onNone: () => "on demand",
    onSome: (s) => `${s.cron}${s.timeZone ? ` (${s.timeZone})` : ""}`,
  })

export const list = Command.make("list", { json: jsonOption }, ({ json }) =>
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
  ),
).pipe(Command.withDescription("list the pipelines found, with their entities, schedule and description"))
