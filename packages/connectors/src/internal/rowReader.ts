import { Effect, Option, type Scope } from "effect"

/** What a driver's query reports, row by row. */
export interface Handlers {
  readonly row: (row: Record<string, unknown>) => void
  readonly end: () => void
  readonly error: (error: unknown) => void
}

/** Flow control over the query's socket. */
export interface Control {
  readonly pause: () => void
  readonly resume: () => void
}

/** Starts a query in a scope (which ends the session) and reports its rows to `handlers`. */
export type Start = (handlers: Handlers) => Effect.Effect<Control, unknown, Scope.Scope>

/** The next chunk of a query's rows, `undefined` once they are all read. */
export type Take = Effect.Effect<ReadonlyArray<Record<string, unknown>> | undefined, unknown>

export interface Options {
  readonly highWater?: number
  readonly drainAfter?: number
}

/**
 * Starts a query and returns how to take its rows, a chunk at a time, with backpressure: when
 * `highWater` chunks wait unread (2 by default), the socket is paused (so rows die young
 * instead of piling up in memory), and resumed as they are taken. A consumer that stalls
 * longer than `drainAfter` ms (a slow sink) gets the rest of the page buffered instead, so the
 * server is never left blocked mid-query (MySQL aborts a write blocked for
 * `net_write_timeout`). A page is bounded by its LIMIT, so the buffer is too.
 *
 * A pull, not a stream: the SQL source takes pages' chunks in one flat loop, because every
 * stream layer between the socket and the consumer keeps rows alive long enough for V8 to move
 * them to the old generation, which cost half the throughput (see `bench/sources.ts`).
 */
export const open = (
  start: Start,
  chunkSize: number,
  options: Options = {},
): Effect.Effect<Take, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const highWater = options.highWater ?? 2
    const drainAfter = options.drainAfter ?? 20_000
    const ready: Array<Array<Record<string, unknown>>> = []
    let current: Array<Record<string, unknown>> = []
    let ended = false
    let failure: Option.Option<unknown> = Option.none()
    let paused = false
    let draining = false
    let timer: ReturnType<typeof setTimeout> | undefined
    let waiter: (() => void) | undefined
    let control: Control | undefined

    const wake = () => {
      const w = waiter
      waiter = undefined
      w?.()
    }
    const pause = () => {
      if (paused || draining || control === undefined) return
      paused = true
      control.pause()
      timer = setTimeout(() => {
        draining = true
        resume()
      }, drainAfter)
    }
    const resume = () => {
      if (!paused) return
      paused = false
      clearTimeout(timer)
      control?.resume()
    }

    control = yield* start({
      row: (row) => {
        current.push(row)
        if (current.length >= chunkSize) {
          ready.push(current)
          current = []
          if (ready.length >= highWater) pause()
          wake()
        }
      },
      end: () => {
        if (current.length > 0) ready.push(current)
        current = []
        ended = true
        wake()
      },
      error: (error) => {
        failure = Option.some(error)
        wake()
      },
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => clearTimeout(timer)))

    const take: Take = Effect.suspend(() => {
      const next = ready.shift()
      if (next !== undefined) {
        if (ready.length < highWater / 2) resume()
        return Effect.succeed(next)
      }
      if (Option.isSome(failure)) return Effect.fail(failure.value)
      if (ended) return Effect.succeed(undefined)
      return Effect.async<void>((resumeTake) => {
        waiter = () => resumeTake(Effect.void)
        return Effect.sync(() => {
          waiter = undefined
        })
      }).pipe(Effect.zipRight(take))
    })
    return take
  })
