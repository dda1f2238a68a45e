/**
 * The `pipeline` command: init, list, plan, run, status, failures, retry, reset, relink, undo, verify, unlock, serve, worker, emulator, demo.
 * Every handler prints through `Console`, and ends by setting the process exit code
 * (0 done, 1 failed or interrupted, 2 done with dead letters); expected errors print one line.
 * Each command lives in `commands/<name>.ts`; what they share is in `internal/common.ts`.
 * This module loads little: the command tree (`internal/commandLine.ts`), everything the commands
 * import and Node's platform layer are loaded only once the line has passed the check, so `--help`
 * starts at once.
 */

import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Argv from "./Argv.js"
import { type ExitCode, invocation, setExitCode } from "./internal/program.js"
import * as ProgressDisplay from "./ProgressDisplay.js"

export { ExitCode, invocation } from "./internal/program.js"

/**
 * Runs the command line (`argv` as in `process.argv`). The line is checked first (`Argv.ts`):
 * `--help` prints our help, a mistake is told naming the command, option or value and exits 1;
 * a line that passes is parsed and run by @effect/cli. Ends with the exit code set in `ExitCode`.
 */
export const main = (
  argv: ReadonlyArray<string>,
): Effect.Effect<void, never, ProgressDisplay.Output | ExitCode> =>
  Effect.suspend(() => {
    const checked = Argv.check(argv.slice(2), invocation)
    switch (checked._tag) {
      case "Help":
        return Console.log(checked.text).pipe(Effect.zipRight(setExitCode(0)))
      case "Invalid":
        return Console.error(`error: ${checked.message}`).pipe(
          Effect.zipRight(
            checked.json
              ? Console.log(JSON.stringify({ error: { kind: "UsageError", message: checked.message } }))
              : Effect.void,
          ),
          Effect.zipRight(setExitCode(1)),
        )
      case "Valid": {
        const [command, ...rest] = checked.args
        // A plain `list` needs neither @effect/cli (with effect's Schema, about 0.4 s to load) nor
        // the other commands: it runs its handler directly, the same one its command runs.
        if (command === "list" && (rest.length === 0 || (rest.length === 1 && rest[0] === "--json"))) {
          return Effect.flatMap(
            Effect.promise(() => import("./internal/listing.js")),
            (listing) => listing.listPipelines({ json: rest.length === 1 }),
          )
        }
        // Node's file system, paths and terminal come with @effect/platform's error schema (and
        // effect's Schema): loaded here, with the commands, as the help needs neither.
        return announce(command).pipe(
          Effect.zipRight(
            Effect.promise(() =>
              Promise.all([import("./internal/commandLine.js"), import("@effect/platform-node/NodeContext")]),
            ),
          ),
          Effect.flatMap(([line, NodeContext]) =>
            line.runLine([...argv.slice(0, 2), ...checked.args]).pipe(Effect.provide(NodeContext.layer)),
          ),
        )
      }
    }
  })

/** Commands that print their output at once, with nothing to wait for. */
const immediate = new Set(["init", "list", "emulator"])

/**
 * On a terminal, a first line before the commands load and connect (a second or more with the
 * embedded state store), so the screen is not blank meanwhile. Only on a terminal: piped output
 * and CI logs stay as they were.
 */
const announce = (command: string | undefined): Effect.Effect<void, never, ProgressDisplay.Output> =>
  Effect.flatMap(ProgressDisplay.Output, (output) =>
    output.isTTY && command !== undefined && !immediate.has(command)
      ? Effect.sync(() => {
          output.stream.write("connecting…\n")
        })
      : Effect.void,
  )
