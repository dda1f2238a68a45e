/**
 * Running the emulator from the command line: `pnpm pipeline emulator [--port N] [--rate R --burst B]
 * [--latency-ms M] [--faults 500=0.01,503=0.02,resetBefore=0.01,resetAfter=0.01] [--seed S] [--https]
 * [--persist FILE] [--code CODE] [--operating-budget SECONDS] [--batch-charge methods|batch]`. The first line printed
 * is `webhook: <url>`; it serves until interrupted.
 */
import { Console, Effect, Either } from "effect"
import * as Emulator from "./Emulator.js"
import * as EntityTypes from "./EntityTypes.js"
import * as Faults from "./Faults.js"

/** Same as the emulator's config; `entityTypes` defaults to the vendor examples' types (SPAs 1220, 1302). */
export type ServeOptions = Emulator.EmulatorConfig

/**
 * Starts the emulator, prints `webhook: <url>` as the first line, then a summary of the limits,
 * and runs until the fiber is interrupted (Ctrl-C under `NodeRuntime.runMain`), closing the server.
 */
export const serve = (options: ServeOptions = {}): Effect.Effect<never, Emulator.EmulatorError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const emulator = yield* Emulator.make({
        entityTypes: EntityTypes.documentationExamples,
        ...options,
      })
      yield* Console.log(`webhook: ${emulator.webhookUrl}`)
      const burst = options.rateLimit?.burst ?? 50
      const rate = options.rateLimit?.rate ?? 2
      const budget = options.operatingTime?.budgetSeconds ?? 480
      yield* Console.log(`oauth:   ${emulator.oauth.restUrl} (token endpoint ${emulator.oauth.tokenUrl})`)
      yield* Console.log(
        `limits:  ${burst === 0 ? "rate limit off" : `${rate}/s, burst ${burst}`}; operating budget ${budget === 0 ? "off" : `${budget} s`}; latency ${options.latencyMs ?? 0} ms; faults ${describeFaults(options.faults)}; seed ${options.seed ?? 1}`,
      )
      if (options.persistPath !== undefined) yield* Console.log(`store:   ${options.persistPath}`)
      return yield* Effect.never
    }),
  )

const describeFaults = (faults: Faults.FaultConfig | undefined): string => {
  const parts = Faults.kinds.filter((k) => (faults?.[k] ?? 0) > 0).map((k) => `${k}=${faults![k]}`)
  return parts.length === 0 ? "none" : parts.join(",")
}

/**
 * Parses the command line flags into `ServeOptions` (for a CLI that does not declare them itself):
 * `--port`, `--rate`, `--burst`, `--latency-ms`, `--faults`, `--seed`, `--https`, `--persist`, `--code`,
 * `--operating-budget` (seconds per method per ten minutes; 0 turns the 429 off), `--batch-charge`
 * (`methods`, the vendor's page, or `batch`: where a batch's commands spend operating time).
 */
export const parseArgs = (argv: ReadonlyArray<string>): Either.Either<ServeOptions, string> => {
  const out: {
    port?: number
    rate?: number
    burst?: number
    latencyMs?: number
    faults?: Faults.FaultConfig
    seed?: number
    https?: boolean
    persistPath?: string
    webhookCode?: string
    operatingBudget?: number
    batchCharge?: "methods" | "batch"
  } = {}
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined]
    const value = () => inline ?? argv[++i]
    const number = (name: string): Either.Either<number, string> => {
      const v = value()
      const n = Number(v)
      return v === undefined || v.trim() === "" || !Number.isFinite(n) || n < 0
        ? Either.left(`${name} needs a non-negative number`)
        : Either.right(n)
    }
    const put = <K extends "port" | "rate" | "burst" | "latencyMs" | "seed" | "operatingBudget">(
      key: K,
      name: string,
    ) => {
      const n = number(name)
      if (Either.isLeft(n)) return n.left
      out[key] = n.right
      return undefined
    }
    let error: string | undefined
    switch (flag) {
      case "--port":
        error = put("port", flag)
        break
      case "--rate":
        error = put("rate", flag)
        break
      case "--burst":
        error = put("burst", flag)
        break
      case "--latency-ms":
        error = put("latencyMs", flag)
        break
      case "--seed":
        error = put("seed", flag)
        break
      case "--operating-budget":
        error = put("operatingBudget", flag)
        break
      case "--faults": {
        const parsed = Faults.parse(value() ?? "")
        if ("error" in parsed) error = String(parsed.error)
        else out.faults = parsed
        break
      }
      case "--batch-charge": {
        const v = value()
        if (v !== "methods" && v !== "batch") error = "--batch-charge needs methods or batch"
        else out.batchCharge = v
        break
      }
      case "--https":
        out.https = true
        break
      case "--persist": {
        const v = value()
        if (v === undefined) error = "--persist needs a file path"
        else out.persistPath = v
        break
      }
      case "--code": {
        const v = value()
        if (v === undefined || !/^[A-Za-z0-9]+$/.test(v)) error = "--code needs letters and digits"
        else out.webhookCode = v
        break
      }
      default:
        error = `unknown option ${flag}`
    }
    if (error !== undefined) return Either.left(error)
  }
  const { rate, burst, operatingBudget, batchCharge, ...rest } = out
  const operatingTime = {
    ...(operatingBudget === undefined ? {} : { budgetSeconds: operatingBudget }),
    ...(batchCharge === undefined ? {} : { batchCharge }),
  }
  return Either.right({
    ...rest,
    ...(Object.keys(operatingTime).length === 0 ? {} : { operatingTime }),
    ...(rate === undefined && burst === undefined
      ? {}
      : {
          rateLimit: { ...(rate === undefined ? {} : { rate }), ...(burst === undefined ? {} : { burst }) },
        }),
  })
}
