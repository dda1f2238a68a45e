import { Clock, Effect } from "effect"
import { type Json, toJson } from "../../Json.js"
import type { EntityReport, RunReport } from "../../Report.js"
import type { RunContext } from "./context.js"

/**
 * The run's report and status, kept with the run in the state store: `failed` when it stopped on
 * an error or lost its lock, `interrupted` when asked to stop, `partial` when a record failed in
 * this run (not counting a dismissed dead letter that failed again the same way), else
 * `succeeded`, even with older dead letters outstanding (the report still counts them).
 */
export const finishRun = (
  ctx: RunContext,
  run: {
    readonly entities: ReadonlyArray<EntityReport>
    readonly startedAt: number
    /** Why the run stopped early, when it failed. */
    readonly error: string | undefined
    /** Why the pipeline's lock was lost, when it was. */
    readonly lockLost: string | undefined
  },
): Effect.Effect<RunReport> =>
  Effect.gen(function* () {
    const { store, pipeline, dryRun } = ctx
    const deadLetters = dryRun
      ? run.entities.reduce((n, r) => n + r.failed, 0)
      : yield* store.deadLetterCount(pipeline.name).pipe(Effect.orElseSucceed(() => 0))
    const wasStopped = yield* ctx.isStopping
    let failedNow = 0
    for (const counts of ctx.failed.values()) if (counts) failedNow++
    const status =
      run.error !== undefined || run.lockLost !== undefined
        ? "failed"
        : wasStopped
          ? "interrupted"
          : failedNow > 0
            ? "partial"
            : "succeeded"
    const report: RunReport = {
      pipeline: pipeline.name,
      runId: ctx.runId,
      status,
      dryRun,
      entities: run.entities,
      ...(ctx.dropped.length > 0 ? { dropped: ctx.dropped } : {}),
      deadLetters,
      failedNow,
      warnings: ctx.warnings,
      durationMs: (yield* Clock.currentTimeMillis) - run.startedAt,
      stateLocation: store.location,
      error: run.error ?? run.lockLost,
    }
    if (!dryRun) {
      yield* store
        .finishRun(
          ctx.runId,
          status,
          toJson({
            entities: run.entities,
            error: report.error,
            warnings: ctx.warnings,
            dropped: report.dropped,
          }) as Json,
        )
        .pipe(Effect.ignore)
    }
    return report
  })
