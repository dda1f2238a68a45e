import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/** Counters of one entity in one run. */
export interface Counters {
  /** Records read from the source. */
  readonly read: number
  /** Records created in the target. */
  readonly created: number
  /** Records whose content changed and were updated in the target. */
  readonly updated: number
  /** Records already in the target with the same content: nothing written. */
  readonly unchanged: number
  /** Records a filter step dropped. */
  readonly skipped: number
  /** Records sent to the dead letters. */
  readonly failed: number
  /** Items deleted from the target because the source marks their records deleted (`delete` policy). */
  readonly deleted: number
  /** Values the mapping's field helpers dropped (duplicate, empty, invalid): `pipeline failures --warnings`. */
  readonly warnings: number
}

export const emptyCounters: Counters = {
  read: 0,
  created: 0,
  updated: 0,
  unchanged: 0,
  skipped: 0,
  failed: 0,
  deleted: 0,
  warnings: 0,
}

export const add = (a: Counters, b: Partial<Counters>): Counters => ({
  read: a.read + (b.read ?? 0),
  created: a.created + (b.created ?? 0),
  updated: a.updated + (b.updated ?? 0),
  unchanged: a.unchanged + (b.unchanged ?? 0),
  skipped: a.skipped + (b.skipped ?? 0),
  failed: a.failed + (b.failed ?? 0),
  deleted: a.deleted + (b.deleted ?? 0),
  warnings: a.warnings + (b.warnings ?? 0),
})

/**
 * Where the runner reports what it does, as it does it. The command line shows it as live bars
 * on a terminal or as periodic lines in logs; tests and embedders may collect it or ignore it.
 */
export interface Progress {
  /** An entity starts; `total` is the source's count when it can tell. */
  readonly start: (entity: string, total: number | undefined) => Effect.Effect<void>
  readonly advance: (entity: string, delta: Partial<Counters>) => Effect.Effect<void>
  readonly finish: (entity: string) => Effect.Effect<void>
  /** A line worth the user's attention (a retry, a pause for the rate limit). */
  readonly note: (message: string) => Effect.Effect<void>
  /**
   * The target made the run wait (a spent operating-time budget, a back-off after a 429/503): a
   * display shows it on the running entities until `untilMs`. Optional: a display that leaves it
   * out shows no waits.
   */
  readonly waiting?: ((wait: Waiting) => Effect.Effect<void>) | undefined
}

/** Why writing stops for a while, and until when. */
export interface Waiting {
  /**
   * What is waited for, in the user's words, to follow "waiting for": `the portal's
   * operating-time window: crm.item.batchImport`.
   */
  readonly what: string
  /** When the wait ends (epoch milliseconds, the `Clock`'s time). */
  readonly untilMs: number
}

export const Progress = Context.GenericTag<Progress>("@b24etl/core/Progress")

/** Reports nothing: for embedding and tests that only look at the report. */
export const silent: Layer.Layer<Progress> = Layer.succeed(Progress, {
  start: () => Effect.void,
  advance: () => Effect.void,
  finish: () => Effect.void,
  note: () => Effect.void,
})

/**
 * Tells the run's progress that it waits (what a sink calls before it sleeps for the target's
 * limits). The sink's calls run in the runner's fibers, where the `Progress` service is provided;
 * elsewhere (a sink used on its own) there is no progress and this does nothing.
 */
export const waiting = (wait: Waiting): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(Progress), (progress) =>
    Option.isSome(progress) && progress.value.waiting !== undefined
      ? progress.value.waiting(wait)
      : Effect.void,
  )
