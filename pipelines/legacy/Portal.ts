import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import type * as Sink from "@b24etl/core/Sink"
import { SinkError } from "@b24etl/core/Sink"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { Config, Effect, Option } from "effect"

/**
 * The portal a demo pipeline writes to: the one `BITRIX24_WEBHOOK_URL` (or the
 * `BITRIX24_OAUTH_*` settings) names, or, with neither set, a local Bitrix24 emulator started in
 * the same process, its store kept in `directory` so consecutive runs see the same portal.
 * `pipeline reset` clears the state; delete the directory to start the portal over too.
 */
export interface LocalPortalOptions {
  /** Where the local portal keeps its items. Default `.pipeline/portal`. */
  readonly directory?: string | undefined
  /** Requests per second and burst of the local portal. Default: a standard cloud plan (2/s, 50). */
  readonly rateLimit?: { readonly rate: number; readonly burst: number } | undefined
  /** Simulated network latency of the local portal in ms. Default 50. */
  readonly latencyMs?: number | undefined
}

const configured = Config.option(
  Config.orElse(Config.string("BITRIX24_WEBHOOK_URL"), () => Config.string("BITRIX24_OAUTH_PORTAL_URL")),
)

export const sink = (options: LocalPortalOptions = {}): Sink.Sink<Bitrix24.Target> => {
  const real = Bitrix24.fromEnv()
  return {
    version: 1,
    kind: real.kind,
    get name() {
      return real.name
    },
    connect: (connectOptions) =>
      Effect.gen(function* () {
        const portal = yield* configured.pipe(
          Effect.mapError(
            (e) => new SinkError({ sink: "bitrix24", reason: "fatal", code: "CONFIG", message: String(e) }),
          ),
        )
        if (Option.isSome(portal)) return yield* real.connect(connectOptions)
        const directory = options.directory ?? ".pipeline/portal"
        const emulator = yield* Emulator.make({
          persistPath: `${directory}/store.json`,
          rateLimit: options.rateLimit ?? { rate: 2, burst: 50 },
          latencyMs: options.latencyMs ?? 50,
        }).pipe(
          Effect.mapError(
            (e) =>
              new SinkError({
                sink: "bitrix24",
                reason: "fatal",
                message: `cannot start the local Bitrix24 emulator: ${e.message}`,
              }),
          ),
        )
        yield* Effect.logInfo(
          `no BITRIX24_WEBHOOK_URL set: writing to a local Bitrix24 emulator at ${emulator.url} (its items are kept in ${directory})`,
        )
        const local = Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), {
          rate: { rate: options.rateLimit?.rate ?? 2, burst: options.rateLimit?.burst ?? 50 },
        })
        const connection = yield* local.connect(connectOptions)
        // Served on a free port each run: the pipeline's state is bound to the directory instead.
        return { ...connection, identity: `bitrix24 local emulator (${directory})` }
      }),
  }
}
