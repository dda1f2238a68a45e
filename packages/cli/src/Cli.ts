/**
 * The `pipeline` command: list, plan, run, status, failures, retry, reset, relink, unlock, serve, emulator, demo.
 * Every handler prints through `Console`, and ends by setting the process exit code
 * (0 done, 1 failed or interrupted, 2 done with dead letters); expected errors print one line.
 * Each command lives in `commands/<name>.ts`; what they share is in `internal/common.ts`.
 */

import { type CliApp, Command, ValidationError } from "@effect/cli"
import { Console, Effect } from "effect"
import * as Argv from "./Argv.js"
import { demo } from "./commands/demo.js"
import { emulator } from "./commands/emulator.js"
import { failures } from "./commands/failures.js"
import { list } from "./commands/list.js"
import { plan } from "./commands/plan.js"
import { relink } from "./commands/relink.js"
import { reset } from "./commands/reset.js"
import { retry } from "./commands/retry.js"
import { run } from "./commands/run.js"
import { serve } from "./commands/serve.js"
import { status } from "./commands/status.js"
import { unlock } from "./commands/unlock.js"
import { type Env, errorJson, invocation, reportFailure, setExitCode } from "./internal/common.js"

export { CliError, describeError, ExitCode, invocation } from "./internal/common.js"

/** The command tree. */
export const command = Command.make("pipeline", {}, () =>
  Console.log(
    `Choose a command: list, plan, run, status, failures, retry, reset, relink, unlock, serve, emulator, demo. See \`${invocation} --help\`.`,
  ),
).pipe(
  Command.withDescription("declarative, exactly-once ETL pipelines from legacy CRMs into Bitrix24"),
  Command.withSubcommands([
    list,
    plan,
    run,
    status,
    failures,
    retry,
    reset,
    relink,
    unlock,
    serve,
    emulator,
    demo,
  ]),
)

const cli = Command.run(command, { name: "pipeline", version: "0.1.0" })

/**
 * Runs the command line (`argv` as in `process.argv`). The line is checked first (`Argv.ts`):
 * `--help` prints our help, a mistake is told naming the command, option or value and exits 1;
 * a line that passes is parsed and run by @effect/cli. Ends with the exit code set in `ExitCode`.
 */
export const main = (
  argv: ReadonlyArray<string>,
): Effect.Effect<void, never, Env | CliApp.CliApp.Environment> =>
  Effect.suspend(() => {
    const checked = Argv.check(argv.slice(2), invocation)
    switch (checked._tag) {
      case "Help":
        return Console.log(checked.text).pipe(Effect.zipRight(setExitCode(0)))
      case "Invalid":
        return Console.error(`error: ${checked.message}`).pipe(
          Effect.zipRight(
            checked.json
              ? Console.log(errorJson({ _tag: "UsageError", message: checked.message }))
              : Effect.void,
          ),
          Effect.zipRight(setExitCode(1)),
        )
      case "Valid":
        return cli([...argv.slice(0, 2), ...checked.args]).pipe(
          Effect.catchAll((e) => (ValidationError.isValidationError(e) ? setExitCode(1) : reportFailure(e))),
        )
    }
  })
