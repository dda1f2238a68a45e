/**
 * Execution-time budgets ("operating"). Every answer of the portal says, in `time.operating`, how
 * many seconds the method has used for this webhook or app over the last ten minutes, in
 * `time.operating_reset_at` when the oldest of those minutes leaves the window, and in
 * `time.processing` what the call itself took. Past the method's budget the method answers 429
 * `OPERATION_TIME_LIMIT` until the window moves.
 *
 * The budget is not a constant: the vendor's limits page gives 480 s per ten minutes only as an
 * example, set per portal, per method and per app or webhook (API-NOTES "Limits"). So the tracker
 * learns it from the answers: it starts from `budgetSeconds`, raises it when the portal reports more
 * use than that without refusing, and lowers it to what was in use when a 429 came. It learns each
 * method's cost per item from `time.processing`, so a caller can tell what a request will cost
 * before sending it.
 *
 * A request reserves its expected cost while it is in flight (`withBudget`); a method admits a
 * request only while what the portal last reported, plus every reservation in flight, plus the
 * request, stays under the budget by a small margin. The margin so follows the work in flight
 * instead of being a fixed 30 s: the cost of the requests in flight is counted where it belongs, and
 * only the error of the estimate (`marginSeconds`, 1% of the budget and at least 0.5 s unless
 * configured) is kept free. Once `operating_reset_at` has passed, what the portal reported is stale:
 * one request at a time goes until an answer says how much the window freed.
 */
import * as Progress from "@b24etl/core/Progress"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

export interface Config {
  /** Seconds a method may use per window, until the portal's answers say otherwise (default 480). */
  readonly budgetSeconds: number
  /** Kept free for the error of the cost estimates (default: 1% of the budget, at least 0.5 s). */
  readonly marginSeconds?: number | undefined
  /** Pause after a 429 when the portal gave no reset time (default 60 s). */
  readonly fallbackPauseSeconds: number
  /** Calls of this many seconds or less are not counted by the portal (default 0.1, API-NOTES). */
  readonly minCountedSeconds: number
}

export const defaults: Config = { budgetSeconds: 480, fallbackPauseSeconds: 60, minCountedSeconds: 0.1 }

/** The `time` object of an answer (all fields optional: self-hosted portals may omit them). */
export interface Time {
  readonly operating?: number | undefined
  readonly operating_reset_at?: number | undefined
  readonly processing?: number | undefined
}

/** One method's budget: what the portal said, what this process has in flight, what it learned. */
interface State {
  /** Seconds used, as last reported (undefined: the portal has not said). */
  operating: number | undefined
  resetAtMs: number | undefined
  /** A 429 came: refused until `resetAtMs`. */
  refused: boolean
  /** Expected seconds of the requests in flight. */
  reserved: number
  inFlight: number
  /** The budget as learned (undefined: the configured one). */
  budget: number | undefined
  /** Seconds per item, smoothed over the answers. */
  perItem: number | undefined
}

/** Weight of the newest answer in the cost per item. */
const smoothing = 0.3

export class Tracker {
  readonly config: Config
  readonly #methods = new Map<string, State>()

  constructor(config: Partial<Config> = {}) {
    this.config = { ...defaults, ...config }
  }

  #state(method: string): State {
    const key = method.toLowerCase()
    let state = this.#methods.get(key)
    if (state === undefined) {
      state = {
        operating: undefined,
        resetAtMs: undefined,
        refused: false,
        reserved: 0,
        inFlight: 0,
        budget: undefined,
        perItem: undefined,
      }
      this.#methods.set(key, state)
    }
    return state
  }

  /**
   * Records what an answer said about `method`; `items`: how many items the call handled, to learn
   * the cost per item from `time.processing`.
   */
  record(method: string, time: Time | undefined, items = 0): void {
    if (time === undefined) return
    const state = this.#state(method)
    if (items > 0 && typeof time.processing === "number" && time.processing >= 0) {
      const sample = time.processing / items
      state.perItem =
        state.perItem === undefined ? sample : state.perItem + smoothing * (sample - state.perItem)
    }
    if (typeof time.operating !== "number") return
    const resetAtMs = typeof time.operating_reset_at === "number" ? time.operating_reset_at * 1000 : undefined
    // Answers of concurrent calls arrive in any order: within one window the larger figure is the later.
    if (
      state.operating !== undefined &&
      resetAtMs !== undefined &&
      resetAtMs === state.resetAtMs &&
      time.operating < state.operating
    )
      return
    state.operating = time.operating
    state.resetAtMs = resetAtMs
    state.refused = false
    // The portal let the method use more than believed: its budget is at least that.
    if (time.operating > this.budget(method)) state.budget = time.operating
  }

  /**
   * Records a 429 `OPERATION_TIME_LIMIT`: the method is out of budget until its reset time, and its
   * budget is taken to be what the portal last reported in use (the answers in flight may have
   * added to it, so the true budget is at least that much higher; erring low costs a little speed,
   * erring high another 429).
   */
  exceeded(method: string, nowMs: number): void {
    const state = this.#state(method)
    const inUse = state.operating ?? 0
    if (inUse >= 1 && inUse < this.budget(method)) state.budget = inUse
    state.resetAtMs =
      state.resetAtMs !== undefined && state.resetAtMs > nowMs
        ? state.resetAtMs
        : nowMs + this.config.fallbackPauseSeconds * 1000
    state.refused = true
  }

  /** The budget of `method` in seconds per window: learned, or the configured one. */
  budget(method: string): number {
    return this.#methods.get(method.toLowerCase())?.budget ?? this.config.budgetSeconds
  }

  /** Seconds kept free for the error of the estimates. */
  margin(method: string): number {
    return this.config.marginSeconds ?? Math.max(0.5, this.budget(method) * 0.01)
  }

  /** Seconds `method` has used, as last reported. */
  operating(method: string): number | undefined {
    return this.#methods.get(method.toLowerCase())?.operating
  }

  /** The learned cost of one item of `method`, in seconds. */
  perItemSeconds(method: string): number | undefined {
    return this.#methods.get(method.toLowerCase())?.perItem
  }

  /** What the portal will count for a call of `seconds` (calls of 0.1 s or less are free). */
  counted(seconds: number): number {
    return seconds > this.config.minCountedSeconds ? seconds : 0
  }

  /** Whether what the portal reported about `method` is out of date: its window has moved since. */
  #stale(state: State, nowMs: number): boolean {
    return state.resetAtMs !== undefined && state.resetAtMs <= nowMs
  }

  /**
   * Seconds `method` may still spend now, in-flight reservations and the margin deducted; infinite
   * while the portal has reported nothing (self-hosted portals without the limit).
   */
  room(method: string, nowMs: number): number {
    const state = this.#methods.get(method.toLowerCase())
    if (state === undefined) return Number.POSITIVE_INFINITY
    if (state.refused && !this.#stale(state, nowMs)) return 0
    if (state.operating === undefined) return Number.POSITIVE_INFINITY
    return Math.max(0, this.budget(method) - this.margin(method) - state.operating - state.reserved)
  }

  /**
   * When a request expected to cost `seconds` of `method` may start, or `undefined` when it may start
   * now. Past the reset time only one request at a time goes, until an answer is in.
   */
  admitAt(method: string, seconds: number, nowMs: number): number | undefined {
    const state = this.#methods.get(method.toLowerCase())
    if (state === undefined) return undefined
    if (seconds <= this.room(method, nowMs)) return undefined
    const stale = this.#stale(state, nowMs)
    // Nothing in flight: past the reset time (or without one) a request goes to learn how much the
    // window freed; before it, the window has to move.
    if (state.inFlight === 0) return stale || state.resetAtMs === undefined ? undefined : state.resetAtMs
    // An answer in flight may say more.
    return stale || state.resetAtMs === undefined ? nowMs + 100 : Math.min(state.resetAtMs, nowMs + 100)
  }

  /** Reserves `seconds` of `method` for a request in flight; answers the release. */
  reserve(method: string, seconds: number): () => void {
    const state = this.#state(method)
    state.reserved += seconds
    state.inFlight++
    let released = false
    return () => {
      if (released) return
      released = true
      state.reserved = Math.max(0, state.reserved - seconds)
      state.inFlight--
    }
  }

  /**
   * When `method` may run again, or `undefined` when it may run now: after a 429, or once the
   * reported use alone has reached the budget, until the reset time.
   */
  blockedUntil(method: string, nowMs: number): number | undefined {
    const state = this.#methods.get(method.toLowerCase())
    if (state === undefined || this.#stale(state, nowMs)) return undefined
    if (state.refused) return state.resetAtMs
    if (state.operating === undefined || state.operating < this.budget(method) - this.margin(method))
      return undefined
    return state.resetAtMs ?? nowMs + this.config.fallbackPauseSeconds * 1000
  }
}

/** Waits shorter than this are the pace of requests in flight, not worth showing. */
const shownWaitMs = 1_000

/** Sleeps until `until` for the budgets of `methods`; a long wait is shown on the run's progress. */
const pause = (methods: ReadonlyArray<string>, now: number, until: number): Effect.Effect<void> =>
  Effect.zipRight(
    until - now >= shownWaitMs
      ? Progress.waiting({
          what: `the portal's operating-time window: ${[...new Set(methods)].join(", ")}`,
          untilMs: until,
        })
      : Effect.void,
    Effect.sleep(Duration.millis(Math.max(1, until - now))),
  )

/** Waits until every one of `methods` is within its budget (the check every call makes). */
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
      yield* pause(methods, now, until)
    }
  })

/** What a request will spend: seconds per method. */
export type Charges = ReadonlyArray<{ readonly method: string; readonly seconds: number }>

/**
 * Runs `task` once every method of the chosen charges has room for it, with the charges reserved
 * until it ends, so concurrent requests together stay within the budgets. `choose` sizes the
 * request from the clock (e.g. how many commands fit the room left) and is asked again after each
 * wait, so a request is never sized on what the budget was before the wait.
 */
export const withBudget = <S, A, E, R>(
  tracker: Tracker,
  choose: (nowMs: number) => { readonly charges: Charges; readonly size: S },
  task: (size: S) => Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.gen(function* () {
      for (;;) {
        const now = yield* Clock.currentTimeMillis
        const { charges, size } = choose(now)
        let until: number | undefined
        for (const c of charges) {
          const u = tracker.admitAt(c.method, c.seconds, now)
          if (u !== undefined && (until === undefined || u > until)) until = u
        }
        if (until === undefined)
          return { size, releases: charges.map((c) => tracker.reserve(c.method, c.seconds)) }
        yield* Effect.logDebug(
          `Bitrix24: waiting for operating time of ${charges.map((c) => c.method).join(", ")}`,
        )
        yield* pause(
          charges.map((c) => c.method),
          now,
          until,
        )
      }
    }),
    ({ size }) => task(size),
    ({ releases }) => Effect.sync(() => releases.forEach((release) => release())),
  )
