/**
 * How a run shows its progress, as implementations of core's `Progress` service:
 * - `bars`: live bars per entity on a terminal (cli-progress);
 * - `lines`: a plain line per running entity every few seconds and when an entity ends, for logs and CI;
 * - `silent`: nothing, for `--json` where only the final report is printed.
 */
import * as EntityProgress from "@b24etl/core/EntityProgress"
import * as Progress from "@b24etl/core/Progress"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { CliProgress } from "./internal/cliProgress.js"
import * as Format from "./internal/format.js"

/** Where live output goes, and whether it is a terminal that can redraw. Given by `bin.ts`. */
export interface Output {
  readonly isTTY: boolean
  /** The stream bars are drawn on (stderr, so stdout keeps only the report). */
  readonly stream: NodeJS.WritableStream
}

export const Output = Context.GenericTag<Output>("@b24etl/cli/ProgressDisplay/Output")

/** What the display knows of one entity (core's model: counters, recent rate, time left). */
export type EntityState = EntityProgress.EntityProgress

/** A time of day on the user's clock: `04:04:00`. */
export const clockTime = (ms: number): string =>
  new Date(ms).toLocaleTimeString("en-GB", {
    hour12: false,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  })

/** `waiting for the portal's operating-time window: crm.item.batchImport until 04:04:00, 9m 00s`. */
export const waitingText = (wait: Progress.Waiting, now: number): string =>
  `waiting for ${wait.what} until ${clockTime(wait.untilMs)}, ${Format.duration(wait.untilMs - now)}`

/** `450/1,000 (45%)`, or `450` without a total: the records done (not merely read). */
const doneOfTotal = (state: EntityState): string => {
  const done = EntityProgress.done(state.counters)
  const ratio = EntityProgress.ratio(state)
  return ratio === undefined
    ? Format.count(done)
    : `${Format.count(done)}/${Format.count(state.total ?? 0)} (${Math.floor(ratio * 100)}%)`
}

/** The outcomes so far: `created 400 · updated 30 · unchanged 10 · failed 10 · skipped 0`. */
const outcomes = (c: Progress.Counters, separator: string): string =>
  [
    `created ${Format.count(c.created)}`,
    `updated ${Format.count(c.updated)}`,
    `unchanged ${Format.count(c.unchanged)}`,
    `failed ${Format.count(c.failed)}`,
    `skipped ${Format.count(c.skipped)}`,
  ].join(separator)

/** The current rate, the wait if any, and the time left: `60/s · ETA 9.2s`. */
const pace = (state: EntityState, now: number, wait: Progress.Waiting | undefined): ReadonlyArray<string> => {
  const rate = EntityProgress.rate(state, now)
  const eta = EntityProgress.eta(state, now, wait)
  return [
    rate === undefined ? undefined : `${Format.count(Math.round(rate))}/s`,
    wait === undefined ? undefined : waitingText(wait, now),
    eta === undefined ? undefined : `ETA ${Format.duration(eta)}`,
  ].filter((p): p is string => p !== undefined)
}

/**
 * The line for an entity still running: `company: done 450/1,000 (45%) · created 400 · updated 30
 * · unchanged 10 · failed 10 · skipped 0 · read 500 · 60/s · ETA 9.2s`; while the target makes the
 * run wait, the wait and when it ends come before the ETA.
 */
export const runningLine = (
  entity: string,
  state: EntityState,
  now: number,
  wait?: Progress.Waiting | undefined,
): string =>
  `${entity}: ${[
    `done ${doneOfTotal(state)}`,
    outcomes(state.counters, " · "),
    `read ${Format.count(state.counters.read)}`,
    ...pace(state, now, wait),
  ].join(" · ")}`

/** The line when an entity ends: everything it did and how long it took. */
export const finishedLine = (entity: string, state: EntityState, now: number): string => {
  const c = state.counters
  return `${entity}: done in ${Format.duration(now - state.startedAt)} · read ${Format.count(c.read)} · ${outcomes(c, " · ")}`
}

/** What every display keeps: the running entities and the waits the target announced. */
const makeModel = () => {
  const entities = new Map<string, EntityState>()
  let waits: ReadonlyArray<Progress.Waiting> = []
  return {
    entities,
    start: (entity: string, total: number | undefined, now: number) =>
      entities.set(entity, EntityProgress.start(total, now)),
    advance: (entity: string, delta: Partial<Progress.Counters>, now: number) => {
      const state = entities.get(entity)
      if (state !== undefined) entities.set(entity, EntityProgress.advance(state, delta, now))
    },
    wait: (wait: Progress.Waiting, now: number) => {
      waits = [...waits.filter((w) => w.untilMs > now), wait]
    },
    currentWait: (now: number) => EntityProgress.currentWait(waits, now),
  }
}

/**
 * Plain lines for logs: every `interval` one line per running entity, one line when an entity
 * ends, the runner's notes and the target's waits as they come, each stamped with the time (UTC). Time is read from
 * `Clock`, so `TestClock` drives it in tests.
 */
export const makeLines = (options: {
  readonly write: (line: string) => Effect.Effect<void>
  readonly interval: Duration.DurationInput
}): Effect.Effect<Progress.Progress, never, Scope.Scope> =>
  Effect.gen(function* () {
    const model = makeModel()
    const stamped = (line: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        options.write(`${Format.timestamp(new Date(now))} ${line}`),
      )
    const report = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const wait = model.currentWait(now)
      for (const [entity, state] of [...model.entities]) yield* stamped(runningLine(entity, state, now, wait))
    })
    yield* Effect.forkScoped(Effect.schedule(report, Schedule.spaced(options.interval)))
    const withNow = (f: (now: number) => void) => Clock.currentTimeMillis.pipe(Effect.map(f))
    return {
      start: (entity, total) => withNow((now) => model.start(entity, total, now)),
      advance: (entity, delta) => withNow((now) => model.advance(entity, delta, now)),
      finish: (entity) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const state = model.entities.get(entity)
          if (state === undefined) return
          model.entities.delete(entity)
          yield* stamped(finishedLine(entity, state, now))
        }),
      note: (message) => stamped(message),
      // A log says when a wait begins, not only in the next periodic line; waits that only
      // prolong the one shown (each request in flight announces it) are not repeated.
      waiting: (wait) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const shown = model.currentWait(now)
          model.wait(wait, now)
          if (shown === undefined || shown.what !== wait.what || wait.untilMs - shown.untilMs >= 1_000)
            yield* stamped(waitingText(wait, now))
        }),
    } satisfies Progress.Progress
  })

/** Plain lines on stdout every 5 seconds (or `interval`). */
export const lines = (
  interval: Duration.DurationInput = Duration.seconds(5),
): Layer.Layer<Progress.Progress> =>
  Layer.scoped(Progress.Progress, makeLines({ write: (line) => Console.log(line), interval }))

const BAR_WIDTH = 12

/**
 * One bar's line: `company  █████░░░░░░░  45% 450/1,000  created 400  updated 30  unchanged 10
 * failed 10  skipped 0  60/s  ETA 9.2s`, the bar and the count being the records done; while
 * waiting, the wait before the ETA.
 */
export const barLine = (
  entity: string,
  state: EntityState,
  now: number,
  done: boolean,
  wait?: Progress.Waiting | undefined,
): string => {
  const c = state.counters
  const ratio = EntityProgress.ratio(state)
  const filled = ratio === undefined ? 0 : Math.round(ratio * BAR_WIDTH)
  const bar =
    ratio === undefined
      ? ""
      : `${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)} ${String(Math.floor(ratio * 100)).padStart(3)}% `
  const count =
    state.total === undefined
      ? `done ${Format.count(EntityProgress.done(c))}`
      : `${Format.count(EntityProgress.done(c))}/${Format.count(state.total)}`
  const parts = done
    ? [outcomes(c, "  "), `in ${Format.duration(now - state.startedAt)}`]
    : [outcomes(c, "  "), ...pace(state, now, wait)]
  return `${entity}  ${bar}${count}  ${parts.join("  ")}`
}

/** Live bars, one per entity, redrawn in place on `stream`; notes are printed above them. */
export const bars = (
  stream: NodeJS.WritableStream,
  entities: ReadonlyArray<string> = [],
): Layer.Layer<Progress.Progress> =>
  Layer.scoped(
    Progress.Progress,
    Effect.gen(function* () {
      const multi = yield* Effect.acquireRelease(
        Effect.sync(
          () =>
            new CliProgress.MultiBar({
              stream,
              hideCursor: true,
              clearOnComplete: false,
              fps: 5,
              format: (_options, _params, payload: { line?: string }) => payload.line ?? "",
            }),
        ),
        (m) => Effect.sync(() => m.stop()),
      )
      const model = makeModel()
      const shown = new Map<string, { bar: ReturnType<typeof multi.create>; done: boolean }>()
      // Known names align the bars from the start; the width only grows for names not announced.
      let nameWidth = Math.max(0, ...entities.map((e) => e.length))
      const render = (entity: string, now: number) => {
        const e = shown.get(entity)
        const state = model.entities.get(entity)
        if (e === undefined || state === undefined) return
        e.bar.update(EntityProgress.done(state.counters), {
          line: barLine(
            entity.padEnd(nameWidth),
            state,
            now,
            e.done,
            e.done ? undefined : model.currentWait(now),
          ),
        })
      }
      // Rate, wait and ETA move even while nothing is written (a pause for the portal's limits): refresh them every second.
      yield* Effect.forkScoped(
        Effect.schedule(
          Clock.currentTimeMillis.pipe(
            Effect.map((now) => {
              for (const [entity, e] of shown) if (!e.done) render(entity, now)
            }),
          ),
          Schedule.spaced("1 second"),
        ),
      )
      const withNow = (f: (now: number) => void) => Clock.currentTimeMillis.pipe(Effect.map(f))
      return {
        start: (entity, total) =>
          withNow((now) => {
            nameWidth = Math.max(nameWidth, entity.length)
            model.start(entity, total, now)
            shown.set(entity, { bar: multi.create(total ?? 0, 0, { line: "" }), done: false })
            render(entity, now)
          }),
        advance: (entity, delta) =>
          withNow((now) => {
            model.advance(entity, delta, now)
            render(entity, now)
          }),
        finish: (entity) =>
          withNow((now) => {
            const e = shown.get(entity)
            if (e === undefined) return
            e.done = true
            render(entity, now)
          }),
        note: (message) => Effect.sync(() => multi.log(`${message}\n`)),
        waiting: (wait) =>
          withNow((now) => {
            model.wait(wait, now)
            for (const [entity, e] of shown) if (!e.done) render(entity, now)
          }),
      } satisfies Progress.Progress
    }),
  )

/** Nothing live: for `--json`, where stdout holds only the report. */
export const silent: Layer.Layer<Progress.Progress> = Progress.silent

/** The display for a run: nothing with `--json`, bars on a terminal, plain lines otherwise. */
export const layer = (options: {
  readonly json: boolean
  /** The entities the run will show, to align their bars. */
  readonly entities?: ReadonlyArray<string> | undefined
}): Layer.Layer<Progress.Progress, never, Output> =>
  options.json
    ? silent
    : Layer.unwrapEffect(
        Effect.map(Output, (output) => (output.isTTY ? bars(output.stream, options.entities) : lines())),
      )
