/**
 * The command tree as @effect/cli parses and runs it. Loaded by `Cli.main` only for a line that
 * passed the check, so `--help` and a mistake never load the commands and what they import.
 */

import { type CliApp, Command, ValidationError } from "@effect/cli"
import { Console, Effect } from "effect"
import { demo } from "../commands/demo.js"
import { emulator } from "../commands/emulator.js"
import { failures } from "../commands/failures.js"
import { init } from "../commands/init.js"
import { list } from "../commands/list.js"
import { plan } from "../commands/plan.js"
import { relink } from "../commands/relink.js"
import { reset } from "../commands/reset.js"
import { retry } from "../commands/retry.js"
import { run } from "../commands/run.js"
import { serve } from "../commands/serve.js"
import { status } from "../commands/status.js"
import { undo } from "../commands/undo.js"
import { unlock } from "../commands/unlock.js"
import { verify } from "../commands/verify.js"
import { worker } from "../commands/worker.js"
import { type Env, invocation, reportFailure, setExitCode } from "./common.js"

/** The command tree. */
export const command = Command.make("pipeline", {}, () =>
  Console.log(
    `Choose a command: init, list, plan, run, status, failures, retry, reset, relink, undo, verify, unlock, serve, worker, emulator, demo. See \`${invocation} --help\`.`,
  ),
).pipe(
  Command.withDescription("declarative, exactly-once ETL pipelines from legacy CRMs into Bitrix24"),
  Command.withSubcommands([
    init,
    list,
    plan,
    run,
    status,
    failures,
    retry,
    reset,
    relink,
    undo,
    verify,
    unlock,
    serve,
    worker,
    emulator,
    demo,
  ]),
)

const cli = Command.run(command, { name: "pipeline", version: "0.1.0" })

/** Parses and runs a checked line (`argv` as in `process.argv`); a parse error sets exit code 1. */
export const runLine = (
  argv: ReadonlyArray<string>,
): Effect.Effect<void, never, Env | CliApp.CliApp.Environment> =>
  cli(argv).pipe(
    Effect.catchAll((e) => (ValidationError.isValidationError(e) ? setExitCode(1) : reportFailure(e))),
  )
