/**
 * The portal's request rate limited across processes: the leaky bucket of `RateLimiter`, kept in
 * the state store's database (`RateBuckets`, one row per portal) instead of in the process, so
 * several processes (pipelines, workers, machines) writing to one portal never add up to more
 * than it accepts. The portal's limit is per portal, not per client.
 *
 * Each process asks the database for a few places at a time (at most one per request waiting
 * here, so none is left unused) and hands them out in arrival order; when none is free the
 * database reserves the next place to come free and the request sleeps until then: one round
 * trip per grant, however many processes wait. A failing database does not stop the
 * requests: they fall back to the process's own limiter, with a warning.
 */
import type { RateBuckets } from "@b24etl/core/RateBuckets"
import { Clock, Duration, Effect } from "effect"
import * as RateLimiter from "./RateLimiter.js"

/** Most places one grant asks for: one database round trip admits up to this many requests. */
export const grantSize = 4

/** How late (seconds) a granted request may reach the portal without overflowing its bucket. */
export const lateness = 5

/**
 * Places kept free in the portal's bucket: more than the in-process limiter keeps. The shared
 * bucket counts a place when it is granted, the portal when the request arrives, and the
 * difference is not one process's few milliseconds: a worker busy preparing its next records (or
 * a loaded machine) sends a granted request seconds later, and while the bucket is filling, the
 * places it already drained were handed out again. `bench/fleet.ts` (12 pipelines in 3 workers
 * over 4 portals, on a 2-core machine at a load of 30 to 45) saw 3 to 8 answers 503 per portal,
 * all in the seconds the bucket first filled, with the in-process headroom (2 places, 1 s at
 * 2/s); `lateness` seconds of the rate (10 places of 50 at the standard limits) cost the first
 * burst those places and nothing after it.
 */
export const headroom = (limits: RateLimiter.Limits): number =>
  Math.min(limits.burst - 1, Math.max(RateLimiter.headroom(limits), Math.ceil(limits.rate * lateness)))

/**
 * A limiter for the portal `key` (its origin) at `limits`, drawing on the shared bucket in
 * `buckets`. Keeps `headroom` free in the portal's bucket.
 */
export const make = (
  buckets: RateBuckets,
  key: string,
  limits: RateLimiter.Limits,
): Effect.Effect<RateLimiter.Limit> =>
  Effect.gen(function* () {
    // Used while the database cannot be reached, and for the limits off.
    const local = yield* RateLimiter.make(limits)
    if (limits.burst === 0) return local
    const { rate } = limits
    const capacity = limits.burst - headroom(limits)
    const turn = yield* Effect.makeSemaphore(1)
    let waiting = 0
    let stock = 0
    const takeOne: Effect.Effect<boolean> = Effect.gen(function* () {
      if (stock > 0) {
        stock--
        return true
      }
      const now = yield* Clock.currentTimeMillis
      const grant = yield* buckets.grant({ key, rate, capacity, want: Math.min(grantSize, waiting), now })
      stock += grant.granted - 1
      // A full bucket reserved the next place to come free: wait for it (the next requests
      // queue behind this one, in arrival order). The place comes free counting from `now`, when
      // the grant was asked, not from its answer: the round trip (long on a busy database) is
      // already part of the wait, and a request that goes later than its place leaves the
      // portal's bucket fuller than the shared one says.
      if (grant.level > capacity) {
        const answered = yield* Clock.currentTimeMillis
        const due = now + Math.ceil(((grant.level - capacity) / rate) * 1000)
        if (due > answered) yield* Effect.sleep(Duration.millis(due - answered))
      }
      return true
    }).pipe(
      Effect.catchAll((e) =>
        Effect.as(
          Effect.logWarning(
            `shared rate limit of ${key} unavailable, limiting in this process: ${e.message}`,
          ),
          false,
        ),
      ),
    )
    const admit = Effect.acquireUseRelease(
      Effect.sync(() => {
        waiting++
      }),
      () => turn.withPermits(1)(takeOne),
      () =>
        Effect.sync(() => {
          waiting--
        }),
    )
    const full = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      buckets.fill({ key, rate, capacity, now }),
    ).pipe(Effect.catchAll(() => local.full))
    return Object.assign(
      <A, E, R>(task: Effect.Effect<A, E, R>) =>
        Effect.flatMap(admit, (shared) => (shared ? task : local(task))),
      { full },
    )
  })
