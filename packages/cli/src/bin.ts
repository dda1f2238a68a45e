/**
 * The `pipeline` command's entry point (`pnpm pipeline <command>`). The only module that reads
 * the process: the `.env` file of the working directory (the environment wins over it), argv,
 * whether stderr is a terminal, and the exit code.
 */
import { existsSync } from "node:fs"
// The module itself, not the package's index, which loads every Node integration (cluster, sockets…).
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Cli from "./Cli.js"
import * as Interrupts from "./Interrupts.js"
import * as LogLine from "./LogLine.js"
import * as ProgressDisplay from "./ProgressDisplay.js"

if (existsSync(".env")) {
  try {
    process.loadEnvFile(".env")
  } catch (e) {
    console.error(`error: cannot read .env: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  }
}

// A reader that goes away (`pipeline list | head -1`) closes the pipe: the rest of the output has
// nowhere to go, which is no failure of the command's, so it ends as it would have, quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE" && e.code !== "ERR_STREAM_DESTROYED") throw e
  })
}

const exitCode = Cli.ExitCode.make()

const environment = Layer.mergeAll(
  Layer.succeed(ProgressDisplay.Output, {
    isTTY: process.stderr.isTTY === true && process.env.CI === undefined,
    stream: process.stderr,
  }),
  Layer.succeed(Cli.ExitCode, exitCode),
  // Logs (a pipeline's or a library's) go to stderr: stdout holds only the command's output.
  Logger.replace(
    Logger.defaultLogger,
    LogLine.logger((line) => process.stderr.write(line)),
  ),
)

// Registered before `runMain`'s own handler, which interrupts the program on the first signal and
// then removes itself (after which Node's default would kill the process on the next one). This
// handler stays: the same press arriving again (forwarded by pnpm or tsx) is ignored, and only a
// second press quits at once. Quitting is safe: the next run checks the records that were in flight.
const interrupts = Effect.runSync(Interrupts.make())
const onSignal = (signal: NodeJS.Signals) => {
  if (Effect.runSync(interrupts.signal) !== "quit") return
  process.stderr.write(
    `\n${signal} again: quitting at once; the next run resumes and checks what was being written\n`,
  )
  process.exit(130)
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)

NodeRuntime.runMain(Cli.main(process.argv).pipe(Effect.provide(environment)), {
  disablePrettyLogger: true,
  teardown: (exit, onExit) => {
    const code = Effect.runSync(exitCode.get) ?? (Exit.isSuccess(exit) ? 0 : 1)
    process.exitCode = code
    onExit(code)
  },
})
