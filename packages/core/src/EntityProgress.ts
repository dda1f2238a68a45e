/**
 * What a progress display knows of one entity while a run writes it, and what it can tell from
 * that: how many of its records are done (created, updated, unchanged, failed or skipped) of the
 * source's total, the rate over the last few seconds (not an average since the start, which hides
 * a slowdown and a pause alike), and the time left from that rate plus any wait the target
 * imposed. Pure functions of the time given, so displays read it from `Clock` and tests drive it
 * with `TestClock`.
 */
import * as Progress from "./Progress.js"

/** How far back the current rate looks. */
export const rateWindowMs = 10_000

/** Samples closer together than this are merged: the window keeps a bounded number of them. */
const sampleSpacingMs = 250

/** Records done at a point in time. */
interface Sample {
  readonly at: number
  readonly done: number
}

export interface EntityProgress {
  /** The source's count when it could tell. */
  readonly total: number | undefined
  readonly counters: Progress.Counters
  readonly startedAt: number
  /** Done counts over the last `rateWindowMs` (and the one just before it), oldest first. */
  readonly samples: ReadonlyArray<Sample>
  /** The last rate measured while records were being done: what the time left is reckoned from during a wait. */
  readonly lastRate: number | undefined
}

/** Records that reached their outcome: written, found unchanged, failed or skipped (not merely read). */
export const done = (c: Progress.Counters): number =>
  c.created + c.updated + c.unchanged + c.failed + c.skipped

/** An entity that starts at `now` with the source's `total`. */
export const start = (total: number | undefined, now: number): EntityProgress => ({
  total,
  counters: Progress.emptyCounters,
  startedAt: now,
  samples: [{ at: now, done: 0 }],
  lastRate: undefined,
})

/** Records done at `t`, as the samples tell (the last one at or before it). */
const doneAt = (samples: ReadonlyArray<Sample>, t: number): number => {
  let value = 0
  for (const s of samples) {
    if (s.at > t) break
    value = s.done
  }
  return value
}

/**
 * Records per second over the last `rateWindowMs` (over the time since the start when shorter);
 * `undefined` at the very start, when no time has passed.
 */
export const rate = (p: EntityProgress, now: number): number | undefined => {
  const elapsed = now - p.startedAt
  if (elapsed <= 0) return undefined
  if (elapsed <= rateWindowMs) return (done(p.counters) / elapsed) * 1_000
  return ((done(p.counters) - doneAt(p.samples, now - rateWindowMs)) / rateWindowMs) * 1_000
}

/** Adds to the entity's counters at `now`, keeping the samples of the rate's window. */
export const advance = (
  p: EntityProgress,
  delta: Partial<Progress.Counters>,
  now: number,
): EntityProgress => {
  const counters = Progress.add(p.counters, delta)
  const value = done(counters)
  // The newest sample moves with each advance until it is `sampleSpacingMs` past the one before.
  const beforeLast = p.samples[p.samples.length - 2]
  const samples =
    beforeLast !== undefined && now - beforeLast.at < sampleSpacingMs
      ? [...p.samples.slice(0, -1), { at: now, done: value }]
      : [...p.samples, { at: now, done: value }]
  // Keep one sample at or before the window's start: the rate's base.
  let first = 0
  while (first + 1 < samples.length && samples[first + 1]!.at <= now - rateWindowMs) first++
  const next = { ...p, counters, samples: first === 0 ? samples : samples.slice(first) }
  const current = rate(next, now)
  return current !== undefined && current > 0 ? { ...next, lastRate: current } : next
}

/** The wait that ends last among those still running at `now`, if any. */
export const currentWait = (
  waits: ReadonlyArray<Progress.Waiting>,
  now: number,
): Progress.Waiting | undefined => {
  let latest: Progress.Waiting | undefined
  for (const w of waits)
    if (w.untilMs > now && (latest === undefined || w.untilMs > latest.untilMs)) latest = w
  return latest
}

/**
 * Milliseconds until the entity is done: what a wait still holds it, plus its remaining records
 * at the current rate (the last rate measured while writing, when the current one is nil because
 * of the wait). `undefined` without a total, or before any rate is known.
 */
export const eta = (
  p: EntityProgress,
  now: number,
  wait?: Progress.Waiting | undefined,
): number | undefined => {
  if (p.total === undefined) return undefined
  const remaining = Math.max(0, p.total - done(p.counters))
  const waitMs = wait === undefined ? 0 : Math.max(0, wait.untilMs - now)
  if (remaining === 0) return waitMs
  const current = rate(p, now)
  const speed = wait === undefined && current !== undefined && current > 0 ? current : (p.lastRate ?? current)
  if (speed === undefined || speed <= 0) return undefined
  return waitMs + (remaining / speed) * 1_000
}

/** The share of the total done, 0 to 1; `undefined` without a total. */
export const ratio = (p: EntityProgress): number | undefined =>
  p.total === undefined ? undefined : p.total === 0 ? 1 : Math.min(1, done(p.counters) / p.total)
