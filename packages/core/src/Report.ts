import type { Counters } from "./Progress.js"
import type { RunStatus } from "./StateStore.js"

/** What one entity did in a run. */
export interface EntityReport extends Counters {
  readonly entity: string
  readonly target: string
  readonly durationMs: number
  /**
   * Items of the pipeline found in the target and taken into the id map before anything was
   * created, because the entity's id map was empty (a reset, a lost state). Absent when none.
   */
  readonly adopted?: number | undefined
}

/** What a run did; printed as a table, or as JSON with `--json`. */
export interface RunReport {
  readonly pipeline: string
  readonly runId: string
  /** `succeeded`: all written; `partial`: done with dead letters; `failed`; `interrupted`. */
  readonly status: RunStatus
  readonly dryRun: boolean
  readonly entities: ReadonlyArray<EntityReport>
  /** Dead letters of the pipeline after the run (this run's and older unresolved ones). */
  readonly deadLetters: number
  readonly durationMs: number
  /** Where the state is, for the "see `pipeline failures`" hint. */
  readonly stateLocation: string
  /** Why the run failed, when it did. */
  readonly error?: string | undefined
}

/** The process exit code documented in the README: 0 done, 1 failed, 2 done with dead letters. */
export const exitCode = (report: RunReport): 0 | 1 | 2 =>
  report.status === "failed" || report.status === "interrupted" ? 1 : report.deadLetters > 0 ? 2 : 0
