/**
 * Standalone entry point: `pnpm tsx packages/bitrix24-emulator/src/bin.ts [flags]` (see `Serve.ts`).
 * The project's CLI exposes the same as `pnpm pipeline emulator`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Either } from "effect"
import * as Serve from "./Serve.js"

const options = Serve.parseArgs(process.argv.slice(2))

NodeRuntime.runMain(
  Either.isLeft(options)
    ? Console.error(`emulator: ${options.left}`).pipe(Effect.zipRight(Effect.sync(() => process.exit(2))))
    : Serve.serve(options.right),
)
