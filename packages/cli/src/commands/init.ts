/** `pipeline init [dir]`: scaffolds a project of one's own that installs b24etl. */

import { createRequire } from "node:module"
import { Args, Command } from "@effect/cli"
import { FileSystem, Path } from "@effect/platform"
import { Console, Effect, Option } from "effect"
import { CliError, handled, setExitCode } from "../internal/common.js"
import * as Scaffold from "../internal/scaffold.js"

/**
 * The versions a new project depends on: b24etl of this command's release, and exactly the
 * `effect` it runs with (a project with another `effect` would load two copies of it).
 */
const versions = (): Scaffold.Versions => {
  const require = createRequire(import.meta.url)
  // Two levels up from src/commands/ and from dist/commands/ alike: this package's package.json.
  const cli = require("../../package.json") as { readonly version: string }
  const effect = require("effect/package.json") as { readonly version: string }
  return { b24etl: cli.version, effect: effect.version, typescript: "5.9.3" }
}

export const init = Command.make(
  "init",
  {
    directory: Args.directory({ name: "dir", exists: "either" }).pipe(
      Args.withDescription("where to create the project (default: the working directory)"),
      Args.optional,
    ),
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const directory = path.resolve(Option.getOrElse(args.directory, () => "."))
        const files = Scaffold.files(Scaffold.packageName(path.basename(directory)), versions())
        const present: Array<string> = []
        for (const f of files) {
          if (yield* fs.exists(path.join(directory, f.path)).pipe(Effect.orElseSucceed(() => false)))
            present.push(f.path)
        }
        if (present.length > 0) {
          return yield* new CliError({
            message: `${directory} already has ${present.join(", ")}: init writes nothing over existing files; choose another directory or move them away`,
          })
        }
        for (const f of files) {
          const target = path.join(directory, f.path)
          yield* fs.makeDirectory(path.dirname(target), { recursive: true })
          yield* fs.writeFileString(target, f.content)
        }
        const shown = path.relative(path.resolve("."), directory)
        const cd = shown === "" ? "" : `cd ${shown.includes(" ") ? JSON.stringify(shown) : shown} && `
        yield* Console.log(
          [
            `Created a pipeline project in ${directory}: ${files.map((f) => f.path).join(", ")}`,
            "",
            "Next:",
            `  ${cd}npm install`,
            "  cp .env.example .env      # set LEGACY_DATABASE_URL and BITRIX24_WEBHOOK_URL",
            "  npx pipeline emulator     # a local portal, if you have none: put the webhook it prints in .env",
            "  npm run typecheck         # the mapping checked against your row types",
            "  npx pipeline plan crm     # checked against the portal, nothing written",
            "  npx pipeline run crm",
          ].join("\n"),
        )
        yield* setExitCode(0)
      }),
    ),
).pipe(
  Command.withDescription("create a pipeline project: package.json, tsconfig.json, a pipeline, .env.example"),
)
