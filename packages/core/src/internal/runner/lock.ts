import { Data, Effect, Option, type Scope } from "effect"
import * as Lock from "../../Lock.js"
import * as Progress from "../../Progress.js"
import { StateStore, type StateStoreError } from "../../StateStore.js"

/** Another process already ran this scheduled tick: nothing is done. */
export class AlreadyRan extends Data.TaggedError("AlreadyRan")<{ readonly message: string }> {}

/**
 * Takes the pipeline's lock for the rest of the scope, renewing it; fails when another process
 * holds it, or, for a scheduled `tick`, when a run of the pipeline started at or after it. With
 * the lock held, a run still marked `running` belongs to a process that died: it is closed as
 * crashed, ending at its holder's last renewal of the lock (its heartbeat), and this run resumes
 * its work.
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
    // The previous holder's last renewal, read before taking its lock over: the lease it set runs
    // `leaseMs` (the pipeline's setting, the same for every run of it) from that renewal.
    const previous = yield* Lock.holder(`pipeline:${pipeline}`)
    // Renewed every few seconds, so that the last renewal of a run that dies tells when it died.
    const lock = yield* Lock.acquire(`pipeline:${pipeline}`, {
      leaseMs: options.leaseMs,
      renewEveryMs: 5_000,
    })
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
    const lastSeen = Option.map(previous, (h) => new Date(h.expiresAt.getTime() - options.leaseMs))
    if ((yield* store.abandonRuns(pipeline, Option.getOrUndefined(lastSeen))) > 0) {
      const progress = yield* Progress.Progress
      yield* progress.note("an earlier run stopped without finishing; resuming where it left off")
    }
    return lock
  })
