/**
 * Execution-time budgets ("operating"). Every answer of the portal says, in `time.operating`, how
 * many seconds the method has used for this webhook or app over the last ten minutes, and in
 * `time.operating_reset_at` when the oldest of those minutes leaves the window. Past the budget
 * (480 s on the cloud) the method answers 429 `OPERATION_TIME_LIMIT`. The tracker pauses a method
 * that comes within `marginSeconds` of its budget until the reset time, so the limit is never hit.
 */
import { Clock, Duration, Effect } from "effect"

export interface Config {
  /** Seconds a method may use per window (default 480). */
  readonly budgetSeconds: number
  /** Pause when this close to the budget (default 30 s: a few calls in flight fit in it). */
  readonly marginSeconds: number
  /** Pause after a 429 when the portal gave no reset time (default 60 s). */
  readonly fallbackPauseSeconds: number
}

export const defaults: Config = { budgetSeconds: 480, marginSeconds: 30, fallbackPauseSeconds: 60 }

/** The `time` object of an answer (all fields optional: self-hosted portals may omit them). */
export interface Time {
  readonly operating?: number | undefined
  readonly operating_reset_at?: number | undefined
}

interface State {
  operating: number
  resetAtMs: number | undefined
}

export class Tracker {
  readonly config: Config
  readonly #methods = new Map<string, State>()

  constructor(config: Partial<Config> = {}) {
    this.config = { ...defaults, ...config }
  }

  /** Records what an answer said about `method`. */
  record(method: string, time: Time | undefined): void {
    if (time === undefined || typeof time.operating !== "number") return
    const resetAtMs = typeof time.operating_reset_at === "number" ? time.operating_reset_at * 1000 : undefined
    this.#methods.set(method.toLowerCase(), { operating: time.operating, resetAtMs })
  }

  /** Records a 429 `OPERATION_TIME_LIMIT`: the method is out of budget until its reset time. */
  exceeded(method: string, nowMs: number): void {
    const key = method.toLowerCase()
    const known = this.#methods.get(key)?.resetAtMs
    const resetAtMs =
      known !== undefined && known > nowMs ? known : nowMs + this.config.fallbackPauseSeconds * 1000
    this.#methods.set(key, { operating: this.config.budgetSeconds, resetAtMs })
  }

  /** When `method` may run again, or `undefined` when it may run now. */
  blockedUntil(method: string, nowMs: number): number | undefined {
    const state = this.#methods.get(method.toLowerCase())
    if (state === undefined) return undefined
    if (state.operating < this.config.budgetSeconds - this.config.marginSeconds) return undefined
    const until = state.resetAtMs ?? nowMs + this.config.fallbackPauseSeconds * 1000
    if (until <= nowMs) {
      // The window moved: what the portal said is stale until the next answer.
      this.#methods.delete(method.toLowerCase())
      return undefined
    }
    return until
  }

  /** Seconds `method` has used, as last reported. */
  operating(method: string): number | undefined {
    return this.#methods.get(method.toLowerCase())?.operating
  }
}

/** Waits until every one of `methods` is within its budget. */
export const awaitBudget = (tracker: Tracker, methods: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      let until: number | undefined
      for (const m of methods) {
        const u = tracker.blockedUntil(m, now)
        if (u !== undefined && (until === undefined || u > until)) until = u
      }
      if (until === undefined) return
      yield* Effect.logDebug(`Bitrix24: pausing ${methods.join(", ")} until the operating-time window moves`)
      yield* Effect.sleep(Duration.millis(until - now))
    }
  })
