/**
 * The portal's request-rate limit: a leaky bucket shared by every client of the portal.
 * Each admitted request adds 1; the level drains at `rate` per second; a request that would take
 * the level past `burst` is refused (the emulator answers 503 `QUERY_LIMIT_EXCEEDED`).
 *
 * Time is passed in (milliseconds), so the logic runs on Effect's `Clock` and tests use `TestClock`.
 */

export interface RateLimitConfig {
  /** Requests per second the bucket drains (default 2). */
  readonly rate: number
  /** Bucket size (default 50); 0 disables the limit. */
  readonly burst: number
}

export const defaults: RateLimitConfig = { rate: 2, burst: 50 }

export class LeakyBucket {
  #level = 0
  #last: number | undefined

  constructor(config: RateLimitConfig) {
    this.#config = config
  }

  #config: RateLimitConfig

  get config(): RateLimitConfig {
    return this.#config
  }

  /** Changes rate and burst; the current level is kept. */
  configure(config: RateLimitConfig): void {
    this.#config = config
  }

  get enabled(): boolean {
    return this.#config.burst > 0
  }

  /** The level at `nowMs` (after draining). */
  level(nowMs: number): number {
    if (this.#last === undefined) return this.#level
    const drained = ((nowMs - this.#last) / 1000) * this.#config.rate
    return Math.max(0, this.#level - Math.max(0, drained))
  }

  /** Admits one request at `nowMs` if the bucket has room; returns whether it did. */
  take(nowMs: number): boolean {
    if (!this.enabled) return true
    const level = this.level(nowMs)
    this.#last = this.#last === undefined ? nowMs : Math.max(this.#last, nowMs)
    if (level + 1 > this.#config.burst) {
      this.#level = level
      return false
    }
    this.#level = level + 1
    return true
  }

  reset(): void {
    this.#level = 0
    this.#last = undefined
  }
}
