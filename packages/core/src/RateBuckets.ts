import type { Effect } from "effect"
import type { StateStoreError } from "./StateStore.js"

/**
 * Leaky buckets kept in a database shared by several processes: one row per bucket (a portal),
 * so every process writing to one portal draws on the same bucket, whichever machine it runs on.
 * A sink's client-side rate limiter asks for a few requests at a time (`grant`) and waits when
 * none is left; the bucket drains at `rate` per second by the caller's clock.
 *
 * The PostgreSQL state store provides it (`StateStore.rateBuckets`); the embedded store and
 * MySQL do not, and sinks then keep their limiter in the process.
 */
export interface RateBuckets {
  /**
   * Takes up to `want` requests from bucket `key`: drains it by the time elapsed since its last
   * use (at `rate` per second), then grants as many as fit under `capacity`, atomically across
   * every process; when none fits, it reserves one, the next to come free. `now` is the caller's
   * clock in milliseconds (a clock behind the bucket's last use drains nothing). Answers how
   * many were granted and the bucket's level afterwards: above `capacity`, the caller waits
   * `(level - capacity) / rate` seconds before it starts the reserved request.
   */
  readonly grant: (request: {
    readonly key: string
    readonly rate: number
    readonly capacity: number
    readonly want: number
    readonly now: number
  }) => Effect.Effect<Grant, StateStoreError>
  /**
   * Raises bucket `key` to at least `capacity` (the portal answered that its bucket is full: a
   * client outside this store shares it), so every process goes at the drain rate for a while.
   */
  readonly fill: (request: {
    readonly key: string
    readonly rate: number
    readonly capacity: number
    readonly now: number
  }) => Effect.Effect<void, StateStoreError>
}

/** What a `grant` gave: requests granted, and the bucket's level after them (see `grant`). */
export interface Grant {
  readonly granted: number
  readonly level: number
}
