/**
 * The request-rate limit of a Bitrix24 portal, on the client side: one leaky bucket per portal,
 * shared by every request of the process, so several sinks (and several batches in flight) on one
 * portal never add up to more than the portal accepts.
 *
 * The portal's bucket holds `burst` requests and drains `rate` per second. The limiter mirrors it:
 * it keeps the level the portal's bucket has from this process's requests, computed from the
 * clock at each request, and lets a request go only when it fits. (Effect's token-bucket
 * `RateLimiter` models the same bucket, but refills it one token per `sleep`, so every late timer
 * (an event loop busy with the state store) loses time for good: 3% of a long run in our
 * measurements. A level computed from the clock does not drift.)
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { globalValue } from "effect/GlobalValue"
import * as Scope from "effect/Scope"
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
 * Places kept free in the portal's bucket. A request leaves when it is admitted but reaches the
 * portal a little later, and network or event-loop jitter can bring two requests closer together
 * than they left; the spare places absorb about a second of that (and at least 4% of the bucket)
 * without ever overflowing it.
 */
export const headroom = (l: Limits): number =>
  l.burst === 0 ? 0 : Math.min(l.burst - 1, Math.max(Math.ceil(l.burst * 0.04), Math.ceil(l.rate)))

/** Wraps an effect so it starts only when the portal's bucket has room for one more request. */
export interface Limit {
  <A, E, R>(task: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
  /**
   * The portal answered 503 `QUERY_LIMIT_EXCEEDED`: its bucket is full (other clients share it).
   * From now on requests go at the drain rate only, until idle time empties the bucket again.
   */
  readonly full: Effect.Effect<void>
}

const identity: Limit = Object.assign(<A, E, R>(task: Effect.Effect<A, E, R>) => task, { full: Effect.void })

/**
 * A limiter for `l`: requests start in arrival order, the first `burst - headroom` at once, then
 * one every `1 / rate` seconds, so the portal's bucket never overflows.
 */
export const make = (l: Limits): Effect.Effect<Limit> =>
  Effect.gen(function* () {
    if (l.burst === 0) return identity
    const capacity = l.burst - headroom(l)
    const turn = yield* Effect.makeSemaphore(1)
    let level = 0
    let last: number | undefined
    const drain = (now: number) => {
      if (last !== undefined) level = Math.max(0, level - ((now - last) / 1000) * l.rate)
      last = now
    }
    const admit = turn.withPermits(1)(
      Effect.gen(function* () {
        for (;;) {
          drain(yield* Clock.currentTimeMillis)
          if (level + 1 <= capacity + 1e-9) {
            level += 1
            return
          }
          yield* Effect.sleep(Duration.millis(Math.ceil(((level + 1 - capacity) / l.rate) * 1000)))
        }
      }),
    )
    const full = Effect.map(Clock.currentTimeMillis, (now) => {
      drain(now)
      level = Math.max(level, capacity)
    })
    return Object.assign(<A, E, R>(task: Effect.Effect<A, E, R>) => Effect.zipRight(admit, task), { full })
  })

/** What every client of one portal shares in this process. */
export interface Shared {
  readonly key: string
  readonly limits: Limits
  readonly limit: Limit
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
        const limit = yield* make(l)
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
