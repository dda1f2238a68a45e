/** `pipeline emulator`: a local Bitrix24 REST emulator. */

import type * as Serve from "@b24etl/bitrix24-emulator/Serve"
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { CliError, handled, setExitCode } from "../internal/common.js"

export const emulator = Command.make(
  "emulator",
  {
    port: Options.integer("port").pipe(
      Options.withDescription("port to listen on (default: a free one)"),
      Options.optional,
    ),
    rate: Options.float("rate").pipe(
      Options.withDescription("requests per second (default 2)"),
      Options.optional,
    ),
    burst: Options.integer("burst").pipe(
      Options.withDescription("rate limit burst (default 50; 0 turns the limit off)"),
      Options.optional,
    ),
    latencyMs: Options.integer("latency-ms").pipe(
      Options.withDescription("added to every request (default 0)"),
      Options.optional,
    ),
    faults: Options.text("faults").pipe(
      Options.withDescription(
        "fault probabilities, e.g. 503=0.05,500=0.02,reset-before=0.01,reset-after=0.01",
      ),
      Options.optional,
    ),
    seed: Options.integer("seed").pipe(
      Options.withDescription("seed of the fault generator (default 1)"),
      Options.optional,
    ),
    https: Options.boolean("https").pipe(Options.withDescription("serve HTTPS with a generated certificate")),
    persist: Options.text("persist").pipe(
      Options.withDescription("load the portal from this JSON file and save it after each change"),
      Options.optional,
    ),
    operatingBudget: Options.integer("operating-budget").pipe(
      Options.withDescription(
        "operating time per method per 10 minutes, in seconds (default 480; 0 turns it off)",
      ),
      Options.optional,
    ),
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        // Loaded here so the other commands do not pay for the emulator's modules at start.
        const [Emulator, Faults] = yield* Effect.promise(() =>
          Promise.all([
            import("@b24etl/bitrix24-emulator/Serve"),
            import("@b24etl/bitrix24-emulator/Faults"),
          ]),
        )
        const faults = Option.map(args.faults, Faults.parse)
        if (Option.isSome(faults) && "error" in faults.value) {
          return yield* new CliError({ message: `--faults: ${faults.value.error}` })
        }
        const opt = <A>(o: Option.Option<A>) => Option.getOrUndefined(o)
        const options: Serve.ServeOptions = {
          ...(Option.isSome(args.port) ? { port: args.port.value } : {}),
          ...(Option.isSome(args.rate) || Option.isSome(args.burst)
            ? {
                rateLimit: {
                  ...(Option.isSome(args.rate) ? { rate: args.rate.value } : {}),
                  ...(Option.isSome(args.burst) ? { burst: args.burst.value } : {}),
                },
              }
            : {}),
          ...(Option.isSome(args.latencyMs) ? { latencyMs: args.latencyMs.value } : {}),
          ...(Option.isSome(faults) && !("error" in faults.value) ? { faults: faults.value } : {}),
          ...(Option.isSome(args.seed) ? { seed: args.seed.value } : {}),
          ...(args.https ? { https: true } : {}),
          ...(opt(args.persist) === undefined ? {} : { persistPath: opt(args.persist)! }),
          ...(Option.isSome(args.operatingBudget)
            ? { operatingTime: { budgetSeconds: args.operatingBudget.value } }
            : {}),
        }
        // The emulator serves until interrupted; that is how it is meant to stop.
        yield* setExitCode(0)
        return yield* Emulator.serve(options)
      }),
    ),
).pipe(Command.withDescription("serve a local Bitrix24 REST emulator (prints its webhook URL first)"))
