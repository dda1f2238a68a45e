import { Console, Deferred, Effect, Exit, Fiber } from "effect"
import { type ExitCode, setExitCode } from "./common.js"

/**
 * Runs a long-lived command (`serve`, `worker`) until it ends or a signal interrupts it. On the
 * signal it prints `stopping`, completes `stop` so the work takes nothing new and lets the runs in
 * progress finish their batches, and waits for it: a signal never cuts a run mid-batch. Ends with
 * "stopped" and exit code 0, or the work's own failure.
 */
export const untilStopped = <E, R>(
  work: Effect.Effect<void, E, R>,
  stop: Deferred.Deferred<void>,
  stopping: string,
): Effect.Effect<void, E, R | ExitCode> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkDaemon(restore(work))
      const first = yield* Effect.exit(restore(Fiber.await(fiber)))
      let result: Exit.Exit<void, E>
      if (Exit.isSuccess(first)) result = first.value
      else {
        yield* Console.error(`stopping: ${stopping}`)
        yield* Deferred.succeed(stop, undefined)
        result = yield* Fiber.await(fiber)
      }
      if (Exit.isFailure(result)) return yield* result
      yield* Console.error("stopped")
      yield* setExitCode(0)
    }),
  )
