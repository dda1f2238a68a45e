/**
 * The request-rate limit of a Bitrix24 portal, on the client side: one leaky bucket per portal,
 * shared by every request of the process, so several sinks (and several batches in flight) on one
 * portal never add up to more than the portal accepts.
 *
 * The portal's bucket holds `burst` requests and drains `rate` per second. Effect's token-bucket
 * `RateLimiter` with `limit: burst` and `interval: burst / rate` seconds models exactly that: a full
 * bucket of `burst` tokens, one token back every `1 / rate` seconds.
 */
import { Duration, Effect, RateLimiter as EffectRateLimiter, Either, Exit, Scope } from "effect"
import { globalValue } from "effect/GlobalValue"
import * as OperatingTime from "./OperatingTime.js"

/** Requests per second and bucket size. `burst: 0` turns the limiter off. */
export interface Limits {
  readonly rate: number
  readonly burst: number
}

/** Ordinary plans: 2 requests/s, bucket of 50. */
export const standard: Limits = { rate: 2, burst: 50 }
/** Enterprise plans: 5 requests/s, bucket of 250. */
export const enterprise: Limits = { rate: 5, burst: 250 }
/** No client-side limit (self-hosted portals without one, benchmarks of latency). */
export const unlimited: Limits = { rate: 0, burst: 0 }

export type Preset = "standard" | "enterprise" | "unlimited" | Limits

export const limits = (preset: Preset): Limits =>
  preset === "standard"
    ? standard
    : preset === "enterprise"
      ? enterprise
      : preset === "unlimited"
        ? unlimited
        : preset

/** Parses `standard`, `enterprise`, `unlimited` or `<rate>/<burst>` (e.g. `2/50`, `0.5/10`). */
export const parse = (text: string): Either.Either<Limits, string> => {
  const t = text.trim().toLowerCase()
  if (t === "standard" || t === "enterprise" || t === "unlimited") return Either.right(limits(t))
  const m = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+)$/.exec(t)
  if (m === null) {
    return Either.left(
      `rate "${text}" must be standard, enterprise, unlimited or <requests per second>/<burst>`,
    )
  }
  const parsed = { rate: Number(m[1]), burst: Number(m[2]) }
  return validate(parsed)
}

export const validate = (l: Limits): Either.Either<Limits, string> =>
  l.burst === 0
    ? Either.right(unlimited)
    : !(l.rate > 0) || !Number.isFinite(l.rate) || !Number.isInteger(l.burst) || l.burst < 1
      ? Either.left(
          `rate ${l.rate}/s with burst ${l.burst} is not valid: rate must be > 0 and burst a whole number >= 1`,
        )
      : Either.right(l)

export const describe = (l: Limits): string =>
  l.burst === 0 ? "no client-side rate limit" : `${l.rate} requests/s, burst ${l.burst}`

/**
 * Tokens kept back from the portal's bucket. A request leaves when it takes its token but reaches
 * the portal a little later, and network jitter can bring two requests closer together than they
 * left; a few spare places in the bucket absorb that without ever overflowing it.
 */
export const headroom = (l: Limits): number =>
  l.burst === 0 ? 0 : Math.min(l.burst - 1, Math.max(1, Math.ceil(l.burst * 0.04)))

/** A limiter for `l`: wraps an effect so it starts only when the bucket has room. */
export const make = (l: Limits): Effect.Effect<EffectRateLimiter.RateLimiter, never, Scope.Scope> => {
  if (l.burst === 0) return Effect.succeed(<A, E, R>(effect: Effect.Effect<A, E, R>) => effect)
  const capacity = l.burst - headroom(l)
  return EffectRateLimiter.make({
    limit: capacity,
    interval: Duration.millis((capacity / l.rate) * 1000),
    algorithm: "token-bucket",
  })
}

/** What every client of one portal shares in this process. */
export interface Shared {
  readonly key: string
  readonly limits: Limits
  readonly limit: EffectRateLimiter.RateLimiter
  /** Execution time per method, as the portal last reported it. */
  readonly operating: OperatingTime.Tracker
}

interface Entry {
  readonly shared: Shared
  readonly scope: Scope.CloseableScope
  refs: number
}

const registry = globalValue(Symbol.for("@b24etl/sinks/RateLimiter/registry"), () => ({
  entries: new Map<string, Entry>(),
  lock: Effect.unsafeMakeSemaphore(1),
}))

/**
 * The portal's shared limiter, keyed by `key` (the portal's origin), made on first use and closed
 * when the last user's scope closes. A second user asking for other limits gets the first one's:
 * one portal has one bucket.
 */
export const acquire = (
  key: string,
  l: Limits,
  operatingTime: Partial<OperatingTime.Config> = {},
): Effect.Effect<Shared, never, Scope.Scope> =>
  Effect.acquireRelease(
    registry.lock.withPermits(1)(
      Effect.gen(function* () {
        const existing = registry.entries.get(key)
        if (existing !== undefined) {
          existing.refs++
          return existing.shared
        }
        const scope = yield* Scope.make()
        const limit = yield* make(l).pipe(Scope.extend(scope))
        const shared: Shared = { key, limits: l, limit, operating: new OperatingTime.Tracker(operatingTime) }
        registry.entries.set(key, { shared, scope, refs: 1 })
        return shared
      }),
    ),
    (shared) =>
      registry.lock.withPermits(1)(
        Effect.suspend(() => {
          const entry = registry.entries.get(shared.key)
          if (entry === undefined || entry.shared !== shared) return Effect.void
          entry.refs--
          if (entry.refs > 0) return Effect.void
          registry.entries.delete(shared.key)
          return Scope.close(entry.scope, Exit.void)
        }),
      ),
  )

/** How many portals have a live limiter in this process (for tests). */
export const activePortals = (): number => registry.entries.size
