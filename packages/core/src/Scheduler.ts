import { Clock, Cron, Deferred, Duration, Effect, Either, Fiber, FiberSet, Option } from "effect"
import * as Pipeline from "./Pipeline.js"
import type { RunReport } from "./Report.js"

/**
 * Runs scheduled pipelines on their cron times (`pipeline serve`). One run per pipeline at a time:
 * a tick that comes while the previous run is still going is skipped and reported, never queued,
 * and across processes the runner's lease lock decides who runs. On stop (SIGTERM) no new run
 * starts, the runs in progress are asked to stop gracefully and are waited for.
 */

export type Event =
  | { readonly _tag: "Scheduled"; readonly pipeline: string; readonly next: Date }
  | { readonly _tag: "Started"; readonly pipeline: string; readonly at: Date; readonly catchUp: boolean }
  | { readonly _tag: "Finished"; readonly pipeline: string; readonly report: RunReport }
  | { readonly _tag: "Skipped"; readonly pipeline: string; readonly at: Date; readonly reason: string }
  | { readonly _tag: "Failed"; readonly pipeline: string; readonly at: Date; readonly message: string }

export interface ServeOptions<E> {
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  /**
   * Runs one pipeline; `stop` completes when the run should end gracefully; `tick` is the cron
   * time it is due for (pass it to `Runner.run` so two processes never both serve one tick).
   */
  readonly run: (
    pipeline: Pipeline.Pipeline,
    stop: Effect.Effect<void>,
    tick: Date,
  ) => Effect.Effect<RunReport, E>
  /**
   * Whether a run failure is a skip rather than a failure (another process holds the pipeline,
   * or already ran this tick); answers the reason to report.
   */
  readonly isSkip?: ((error: E) => string | undefined) | undefined
  /** When the pipeline last started, for catching up a tick missed while the process was down. */
  readonly lastRunAt?: ((pipeline: string) => Effect.Effect<Date | undefined>) | undefined
  readonly onEvent?: ((event: Event) => Effect.Effect<void>) | undefined
  /** Completes when serving should end (SIGTERM). Without it, serves until interrupted. */
  readonly stop?: Effect.Effect<void> | undefined
}

/** The next time a pipeline is due after `from`, when it has a schedule. */
export const nextRun = (pipeline: Pipeline.Pipeline, from: Date): Date | undefined => {
  const cron = Pipeline.cron(pipeline)
  return Either.isRight(cron) && Option.isSome(cron.right) ? Cron.next(cron.right.value, from) : undefined
}

export const serve = <E>(options: ServeOptions<E>): Effect.Effect<void, Pipeline.DefinitionError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const emit = options.onEvent ?? (() => Effect.void)
      const scheduled: Array<{ pipeline: Pipeline.Pipeline; cron: Cron.Cron }> = []
      for (const pipeline of options.pipelines) {
        const cron = yield* Pipeline.cron(pipeline)
        if (Option.isNone(cron)) {
          return yield* Effect.fail(
            new Pipeline.DefinitionError({
              pipeline: pipeline.name,
              message: "the pipeline has no `schedule`",
            }),
          )
        }
        scheduled.push({ pipeline, cron: cron.value })
      }
      const stopRuns = yield* Deferred.make<void>()
      const runs = yield* FiberSet.make()
      const running = new Set<string>()

      const trigger = (pipeline: Pipeline.Pipeline, at: Date, catchUp: boolean) =>
        Effect.gen(function* () {
          if (running.has(pipeline.name)) {
            return yield* emit({
              _tag: "Skipped",
              pipeline: pipeline.name,
              at,
              reason: "the previous run is still going",
            })
          }
          running.add(pipeline.name)
          yield* FiberSet.run(
            runs,
            Effect.gen(function* () {
              yield* emit({ _tag: "Started", pipeline: pipeline.name, at, catchUp })
              const result = yield* Effect.either(options.run(pipeline, Deferred.await(stopRuns), at))
              if (Either.isRight(result)) {
                yield* emit({ _tag: "Finished", pipeline: pipeline.name, report: result.right })
              } else if (options.isSkip?.(result.left) !== undefined) {
                yield* emit({
                  _tag: "Skipped",
                  pipeline: pipeline.name,
                  at,
                  reason: options.isSkip(result.left)!,
                })
              } else {
                const error = result.left as { message?: unknown }
                yield* emit({
                  _tag: "Failed",
                  pipeline: pipeline.name,
                  at,
                  message: typeof error?.message === "string" ? error.message : String(result.left),
                })
              }
            }).pipe(Effect.ensuring(Effect.sync(() => running.delete(pipeline.name)))),
          )
        })

      const loop = (pipeline: Pipeline.Pipeline, cron: Cron.Cron) =>
        Effect.gen(function* () {
          const startedAt = new Date(yield* Clock.currentTimeMillis)
          if (
            Pipeline.schedule(pipeline).pipe(Option.exists((s) => s.catchUp === true)) &&
            options.lastRunAt
          ) {
            const last = yield* options.lastRunAt(pipeline.name)
            const missed = last === undefined ? undefined : Cron.next(cron, last)
            if (missed !== undefined && missed.getTime() <= startedAt.getTime())
              yield* trigger(pipeline, startedAt, true)
          }
          for (;;) {
            const now = yield* Clock.currentTimeMillis
            const next = Cron.next(cron, new Date(now))
            yield* emit({ _tag: "Scheduled", pipeline: pipeline.name, next })
            yield* Clock.sleep(Duration.millis(Math.max(0, next.getTime() - now)))
            yield* trigger(pipeline, next, false)
          }
        })

      const loops = yield* Effect.forkScoped(
        Effect.forEach(scheduled, ({ pipeline, cron }) => loop(pipeline, cron), {
          concurrency: "unbounded",
          discard: true,
        }),
      )
      yield* options.stop ?? Effect.never
      // Graceful stop: no new runs; the current ones finish their batch, commit and release their locks.
      yield* Fiber.interrupt(loops)
      yield* Deferred.succeed(stopRuns, undefined)
      yield* FiberSet.awaitEmpty(runs)
    }),
  )
