import type { DroppedField } from "./Dropped.js"
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

/** Something a run did that a user should know, though nothing failed. */
export interface RunWarning {
  readonly entity: string
  /**
   * `FUTURE_CURSOR`: records whose cursor is later than the run's start (or `infinity`); they
   * are written, but the checkpoint stays before them, so every run reads them again (and
   * skips them while unchanged) until their time has come.
   */
  readonly code: "FUTURE_CURSOR"
  readonly message: string
  /** The records' keys (the first ones, when there are many). */
  readonly keys: ReadonlyArray<string>
}

/** What a run did; printed as a table, or as JSON with `--json`. */
export interface RunReport {
  readonly pipeline: string
  readonly runId: string
  /**
   * What this run did: `succeeded` (dead letters of earlier runs may be outstanding), `partial`
   * (a record failed in this run, apart from failures a user dismissed), `failed`, `interrupted`.
   */
  readonly status: RunStatus
  readonly dryRun: boolean
  readonly entities: ReadonlyArray<EntityReport>
  /**
   * Values field helpers dropped from the records this run wrote (duplicate, empty, invalid; the
   * first 1,000, with entity, key and field): the entities' `warnings`. Absent when none.
   */
  readonly dropped?: ReadonlyArray<DroppedField> | undefined
  /** Dead letters of the pipeline after the run that count: this run's and older ones, not dismissed. */
  readonly deadLetters: number
  /** Records that failed in this run and count (not a dismissed failure again); absent in older reports. */
  readonly failedNow?: number | undefined
  /** What the run warns about, e.g. records with a cursor in the future. */
  readonly warnings?: ReadonlyArray<RunWarning> | undefined
  readonly durationMs: number
  /** Where the state is, for the "see `pipeline failures`" hint. */
  readonly stateLocation: string
  /** Why the run failed, when it did. */
  readonly error?: string | undefined
}

/**
 * The process exit code documented in the README: 0 done, 1 failed or stopped, 2 done with
 * records that failed in this run (older or dismissed dead letters do not count).
 */
export const exitCode = (report: RunReport): 0 | 1 | 2 =>
  report.status === "failed" || report.status === "interrupted" ? 1 : report.status === "partial" ? 2 : 0
