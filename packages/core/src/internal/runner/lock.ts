import { Data, Effect, type Scope } from "effect"
import * as Lock from "../../Lock.js"
import * as Progress from "../../Progress.js"
import { StateStore, type StateStoreError } from "../../StateStore.js"

/** Another process already ran this scheduled tick: nothing is done. */
export class AlreadyRan extends Data.TaggedError("AlreadyRan")<{ readonly message: string }> {}

/**
 * Takes the pipeline's lock for the rest of the scope, renewing it; fails when another process
 * holds it, or, for a scheduled `tick`, when a run of the pipeline started at or after it. With
 * the lock held, a run still marked `running` belongs to a process that died: it is closed as
 * interrupted, and this run resumes its work.
 */
export const takeLock = (
  pipeline: string,
  options: { readonly leaseMs: number; readonly tick: Date | undefined },
): Effect.Effect<
  Lock.Lock,
  Lock.LockError | AlreadyRan | StateStoreError,
  StateStore | Progress.Progress | Scope.Scope
> =>
  Effect.gen(function* () {
    const lock = yield* Lock.acquire(`pipeline:${pipeline}`, { leaseMs: options.leaseMs })
    const store = yield* StateStore
    const tick = options.tick
    if (tick) {
      const [last] = yield* store.recentRuns(pipeline, 1)
      if (last !== undefined && last.startedAt.getTime() >= tick.getTime()) {
        return yield* new AlreadyRan({
          message: `the run due at ${tick.toISOString()} was already made (run ${last.id}, started ${last.startedAt.toISOString()})`,
        })
      }
    }
    if ((yield* store.abandonRuns(pipeline)) > 0) {
      const progress = yield* Progress.Progress
      yield* progress.note("an earlier run stopped without finishing; resuming where it left off")
    }
    return lock
  })
