/**
 * Execution-time accounting ("operating"): seconds each method has used for one webhook or app over
 * the last ten one-minute buckets. Past the budget the method is refused (429 `OPERATION_TIME_LIMIT`)
 * until the oldest bucket leaves the window. Calls of `minCountedSeconds` or less are not counted.
 *
 * The emulator does no real work worth timing, so a call's cost is configured:
 * `costPerCallSeconds + costPerItemSeconds * items`.
 *
 * The commands of a `batch` are charged as the vendor's limits page describes them: each to its own
 * method (`batchCharge: "methods"`, the default), the `batch` itself only its own overhead. A 2026
 * measurement on a self-hosted portal (b24jssdk PR #539, API-NOTES) found them charged to `batch`
 * instead: `batchCharge: "batch"` emulates that. One request may run at most `maxRequestSeconds`
 * (60 s, API-NOTES "Limits").
 */

export interface OperatingTimeConfig {
  /** Seconds a method may use per window (default 480; 0 turns the limit off, accounting stays). */
  readonly budgetSeconds: number
  /** Window length (default 600 s, ten one-minute buckets). */
  readonly windowSeconds: number
  readonly bucketSeconds: number
  /** Calls that cost this or less are not counted (default 0.1 s). */
  readonly minCountedSeconds: number
  /** Simulated processing time of any call (default 0.005 s). */
  readonly costPerCallSeconds: number
  /** Simulated processing time per item written (default 0.01 s: 20 imports = 0.21 s). */
  readonly costPerItemSeconds: number
  /**
   * Where a `batch`'s commands are charged: to each command's own method (`methods`, the vendor's
   * page, default) or all to `batch` (`batch`, what PR #539 measured on a self-hosted portal).
   */
  readonly batchCharge: "methods" | "batch"
  /** Longest portal time of one request, a `batch` with all its commands (default 60 s). */
  readonly maxRequestSeconds: number
}

export const defaults: OperatingTimeConfig = {
  budgetSeconds: 480,
  windowSeconds: 600,
  bucketSeconds: 60,
  minCountedSeconds: 0.1,
  costPerCallSeconds: 0.005,
  costPerItemSeconds: 0.01,
  batchCharge: "methods",
  maxRequestSeconds: 60,
}

/** What a response's `time` reports. */
export interface Usage {
  /** Seconds used in the window. */
  readonly operating: number
  /** Unix time (seconds) when the oldest counted bucket leaves the window. */
  readonly resetAt: number
}

export class Ledger {
  readonly #buckets = new Map<string, Array<{ start: number; used: number }>>()

  constructor(readonly config: OperatingTimeConfig) {}

  /** Simulated processing time of a call that handled `items` items. */
  cost(items: number): number {
    return this.config.costPerCallSeconds + this.config.costPerItemSeconds * items
  }

  #live(key: string, nowMs: number): Array<{ start: number; used: number }> {
    const windowMs = this.config.windowSeconds * 1000
    const buckets = (this.#buckets.get(key) ?? []).filter((b) => b.start + windowMs > nowMs)
    this.#buckets.set(key, buckets)
    return buckets
  }

  usage(key: string, nowMs: number): Usage {
    const buckets = this.#live(key, nowMs)
    const operating = buckets.reduce((sum, b) => sum + b.used, 0)
    const oldest = buckets[0]?.start ?? nowMs
    return { operating, resetAt: Math.floor((oldest + this.config.windowSeconds * 1000) / 1000) }
  }

  /** Whether `key` (a credential plus a method) has used its budget. */
  isBlocked(key: string, nowMs: number): boolean {
    return this.config.budgetSeconds > 0 && this.usage(key, nowMs).operating >= this.config.budgetSeconds
  }

  /** Records `seconds` of processing at `nowMs` (ignored at or under `minCountedSeconds`). */
  record(key: string, nowMs: number, seconds: number): void {
    if (seconds <= this.config.minCountedSeconds) return
    const bucketMs = this.config.bucketSeconds * 1000
    const start = Math.floor(nowMs / bucketMs) * bucketMs
    const buckets = this.#live(key, nowMs)
    const last = buckets[buckets.length - 1]
    if (last !== undefined && last.start === start) last.used += seconds
    else buckets.push({ start, used: seconds })
  }

  reset(): void {
    this.#buckets.clear()
  }
}
