/**
 * How a run shows its progress, as implementations of core's `Progress` service:
 * - `bars`: live bars per entity on a terminal (cli-progress);
 * - `lines`: a plain line per running entity every few seconds and when an entity ends, for logs and CI;
 * - `silent`: nothing, for `--json` where only the final report is printed.
 */
import * as Progress from "@b24etl/core/Progress"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
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

/** What the display knows of one entity. */
export interface EntityState {
  readonly total: number | undefined
  readonly counters: Progress.Counters
  readonly startedAt: number
}

const written = (c: Progress.Counters) => c.created + c.updated

/** Records per second and the time left, when they can be told. */
export const speed = (
  state: EntityState,
  now: number,
): { readonly rate: number | undefined; readonly etaMs: number | undefined } => {
  const elapsed = (now - state.startedAt) / 1_000
  const rate = elapsed > 0 ? state.counters.read / elapsed : undefined
  const etaMs =
    state.total !== undefined && rate !== undefined && rate > 0
      ? (Math.max(0, state.total - state.counters.read) / rate) * 1_000
      : undefined
  return { rate, etaMs }
}

/** The line for an entity still running: `company: read 300/1,000 (30%) · written 280 · … · 60/s · ETA 12s`. */
export const runningLine = (entity: string, state: EntityState, now: number): string => {
  const c = state.counters
  const { rate, etaMs } = speed(state, now)
  const read =
    state.total === undefined
      ? `read ${Format.count(c.read)}`
      : `read ${Format.count(c.read)}/${Format.count(state.total)} (${state.total === 0 ? 100 : Math.floor((c.read / state.total) * 100)}%)`
  const parts = [
    read,
    `written ${Format.count(written(c))}`,
    `unchanged ${Format.count(c.unchanged)}`,
    `failed ${Format.count(c.failed)}`,
    rate === undefined ? undefined : `${Format.count(Math.round(rate))}/s`,
    etaMs === undefined ? undefined : `ETA ${Format.duration(etaMs)}`,
  ]
  return `${entity}: ${parts.filter((p) => p !== undefined).join(" · ")}`
}

/** The line when an entity ends: everything it did and how long it took. */
export const finishedLine = (entity: string, state: EntityState, now: number): string => {
  const c = state.counters
  return `${entity}: done in ${Format.duration(now - state.startedAt)} · read ${Format.count(c.read)} · created ${Format.count(c.created)} · updated ${Format.count(c.updated)} · unchanged ${Format.count(c.unchanged)} · skipped ${Format.count(c.skipped)} · failed ${Format.count(c.failed)}`
}

/**
 * Plain lines: every `interval` one line per running entity, one line when an entity ends, and
 * the runner's notes as they come. Time is read from `Clock`, so `TestClock` drives it in tests.
 */
export const makeLines = (options: {
  readonly write: (line: string) => Effect.Effect<void>
  readonly interval: Duration.DurationInput
}): Effect.Effect<Progress.Progress, never, Scope.Scope> =>
  Effect.gen(function* () {
    const running = yield* Ref.make(new Map<string, EntityState>())
    const report = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (const [entity, state] of yield* Ref.get(running))
        yield* options.write(runningLine(entity, state, now))
    })
    yield* Effect.forkScoped(Effect.schedule(report, Schedule.spaced(options.interval)))
    const update = (entity: string, f: (s: EntityState) => EntityState) =>
      Ref.update(running, (m) => {
        const state = m.get(entity)
        return state === undefined ? m : new Map(m).set(entity, f(state))
      })
    return {
      start: (entity, total) =>
        Clock.currentTimeMillis.pipe(
          Effect.flatMap((now) =>
            Ref.update(running, (m) =>
              new Map(m).set(entity, { total, counters: Progress.emptyCounters, startedAt: now }),
            ),
          ),
        ),
      advance: (entity, delta) =>
        update(entity, (s) => ({ ...s, counters: Progress.add(s.counters, delta) })),
      finish: (entity) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const state = (yield* Ref.get(running)).get(entity)
          if (state === undefined) return
          yield* Ref.update(running, (m) => {
            const next = new Map(m)
            next.delete(entity)
            return next
          })
          yield* options.write(finishedLine(entity, state, now))
        }),
      note: (message) => options.write(message),
    } satisfies Progress.Progress
  })

/** Plain lines on stdout every 5 seconds (or `interval`). */
export const lines = (
  interval: Duration.DurationInput = Duration.seconds(5),
): Layer.Layer<Progress.Progress> =>
  Layer.scoped(Progress.Progress, makeLines({ write: (line) => Console.log(line), interval }))

const BAR_WIDTH = 12

/**
 * One bar's line, compact enough for an 80-column terminal:
 * `company  ██████░░░░░░  45% 450/1,000  written 430  unchanged 10  failed 10  60/s  ETA 9.2s`.
 */
export const barLine = (entity: string, state: EntityState, now: number, done: boolean): string => {
  const c = state.counters
  const ratio =
    state.total === undefined ? undefined : state.total === 0 ? 1 : Math.min(1, c.read / state.total)
  const bar =
    ratio === undefined
      ? ""
      : `${"█".repeat(Math.round(ratio * BAR_WIDTH))}${"░".repeat(BAR_WIDTH - Math.round(ratio * BAR_WIDTH))} ${String(Math.floor(ratio * 100)).padStart(3)}% `
  const read =
    state.total === undefined
      ? `read ${Format.count(c.read)}`
      : `${Format.count(c.read)}/${Format.count(state.total)}`
  const { rate, etaMs } = speed(state, now)
  const parts = done
    ? [
        `created ${Format.count(c.created)}`,
        `updated ${Format.count(c.updated)}`,
        `unchanged ${Format.count(c.unchanged)}`,
        `failed ${Format.count(c.failed)}`,
        `in ${Format.duration(now - state.startedAt)}`,
      ]
    : [
        `written ${Format.count(written(c))}`,
        `unchanged ${Format.count(c.unchanged)}`,
        `failed ${Format.count(c.failed)}`,
        rate === undefined ? undefined : `${Format.count(Math.round(rate))}/s`,
        etaMs === undefined ? undefined : `ETA ${Format.duration(etaMs)}`,
      ]
  return `${entity}  ${bar}${read}  ${parts.filter((p) => p !== undefined).join("  ")}`
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
      const shown = new Map<
        string,
        { state: EntityState; bar: ReturnType<typeof multi.create>; done: boolean }
      >()
      // Known names align the bars from the start; the width only grows for names not announced.
      let nameWidth = Math.max(0, ...entities.map((e) => e.length))
      const render = (entity: string, now: number) => {
        const e = shown.get(entity)
        if (e === undefined) return
        e.bar.update(e.state.counters.read, { line: barLine(entity.padEnd(nameWidth), e.state, now, e.done) })
      }
      // Rate and ETA move even while nothing is read (a rate-limit pause): refresh them every second.
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
            const state = { total, counters: Progress.emptyCounters, startedAt: now }
            const bar = multi.create(total ?? 0, 0, { line: "" })
            shown.set(entity, { state, bar, done: false })
            render(entity, now)
          }),
        advance: (entity, delta) =>
          withNow((now) => {
            const e = shown.get(entity)
            if (e === undefined) return
            e.state = { ...e.state, counters: Progress.add(e.state.counters, delta) }
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
