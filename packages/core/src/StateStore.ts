import { Context, Data, type Effect, type Option } from "effect"
import type { Json } from "./Json.js"
import type { RateBuckets } from "./RateBuckets.js"
import type { SourceKey } from "./SourceKey.js"

/**
 * The state store: everything a run needs to resume without duplicates, in one database that
 * users can query with plain SQL (PostgreSQL, MySQL/MariaDB, or embedded SQLite by default; embedded
 * PGlite for state directories made before SQLite was the default).
 *
 * Tables (see `internal/state/migrations.ts`): `runs`, `checkpoints`, `id_map`, `dead_letters`, `locks`,
 * and `schema_migrations`. The id map is the checkpoint that matters: a record whose key is
 * `created` there is never created again.
 */

/**
 * Where a record stands in the id map: `pending` while its create is sent, `created` once the
 * target has it, `deleting` once the source marked it deleted under a `delete` policy and the
 * item is still to be deleted (at the end of the run, dependants first), `deleted` once it is
 * gone from the target. A `deleted` record that the source brings back is created again.
 */
export type IdMapStatus = "pending" | "created" | "deleting" | "deleted"

export interface IdMapEntry {
  readonly entity: string
  readonly sourceKey: SourceKey
  /** The target type, e.g. Bitrix24 `deal` or `spa:1030`. */
  readonly targetType: string
  /** The id in the target system; absent while `pending`. */
  readonly targetId: string | null
  /** Hash of the fields last written, to skip unchanged records and update changed ones. */
  readonly payloadHash: string
  readonly status: IdMapStatus
  /**
   * The batch that created (or is creating) the record: `run:entity:n`, so a run's items can be
   * found again (`pipeline undo --run`). An update keeps it; adopted rows have none.
   */
  readonly batchId: string | null
  readonly updatedAt: Date
}

/** A record that could not be written, with everything needed to understand and retry it. */
export interface DeadLetter {
  readonly entity: string
  readonly sourceKey: SourceKey
  /** Where it failed: `read`, `decode`, `transform`, `map`, `reference`, `write`, `update`. */
  readonly stage: string
  /** A machine-readable code: the target system's error code, or ours (`UNRESOLVED_REFERENCE`). */
  readonly code: string
  readonly message: string
  /** The source record as read (secrets are never part of records). */
  readonly payload: Json
  /** How many runs have failed on it. */
  readonly attempts: number
  readonly updatedAt: Date
  /**
   * When a user acknowledged it as known-bad (`pipeline failures --dismiss`): it stays listed,
   * is not retried, and does not make a run exit 2. Null while it counts.
   */
  readonly dismissedAt: Date | null
}

export type DeadLetterInput = Omit<DeadLetter, "attempts" | "updatedAt" | "dismissedAt">

/** Which dead letters `dismissDeadLetters` acknowledges: all of the pipeline's, narrowed by each field given. */
export interface DeadLetterSelection {
  readonly entity?: string | undefined
  readonly keys?: ReadonlyArray<SourceKey> | undefined
  readonly code?: string | undefined
}

/**
 * What a pipeline's state belongs to, recorded by its first run: the target (a Bitrix24 portal
 * and the webhook user or OAuth app) and its sources. A run against another target stops before
 * it reads or writes, so ids of one portal are never applied to another.
 */
export interface Binding {
  readonly pipeline: string
  /** The target, without secrets, e.g. `bitrix24 https://acme.bitrix24.com (webhook user 1)`. */
  readonly target: string
  /** The `originatorId` the pipeline's items carry; one pipeline per originator and target. */
  readonly originator: string
  /** The sources, without secrets (host and database); null when they cannot tell. */
  readonly source: string | null
  readonly boundAt: Date
}

/** `crashed`: the process running it died (killed, out of memory); found and closed by the next run. */
export type RunStatus = "running" | "succeeded" | "failed" | "partial" | "interrupted" | "crashed"

export interface Run {
  readonly id: string
  readonly pipeline: string
  readonly status: RunStatus
  readonly startedAt: Date
  readonly finishedAt: Date | null
  /** Counters per entity and anything else the report shows. */
  readonly stats: Json
}

/** One batch's results, committed atomically. */
export interface BatchCommit {
  readonly pipeline: string
  readonly entity: string
  /** Rows to write as `created` (insert or overwrite). */
  readonly created: ReadonlyArray<{
    readonly sourceKey: SourceKey
    readonly targetType: string
    readonly targetId: string
    readonly payloadHash: string
    readonly batchId: string | null
  }>
  /** Keys whose pending rows are dropped (they failed and went to the dead letters). */
  readonly released?: ReadonlyArray<SourceKey> | undefined
  readonly deadLetters?: ReadonlyArray<DeadLetterInput> | undefined
  /** Keys that were written now and so leave the dead letters. */
  readonly recovered?: ReadonlyArray<SourceKey> | undefined
  /**
   * `created` rows whose items are to be deleted (the source marks them deleted under a `delete`
   * policy): they become `deleting`, with the hash of the deletion, until the item is gone.
   */
  readonly deleting?:
    | ReadonlyArray<{ readonly sourceKey: SourceKey; readonly payloadHash: string }>
    | undefined
  /** `deleting` rows whose items the target has deleted: they become `deleted`. */
  readonly deleted?: ReadonlyArray<SourceKey> | undefined
  /** The entity's new checkpoint, when this batch completes a prefix of the read. */
  readonly checkpoint?: Json | undefined
}

export interface StateStore {
  readonly dialect: "postgres" | "mysql" | "pglite" | "sqlite"
  /** Where the state is, for messages: a directory or a URL with the password hidden. */
  readonly location: string

  readonly startRun: (pipeline: string) => Effect.Effect<Run, StateStoreError>
  readonly finishRun: (id: string, status: RunStatus, stats: Json) => Effect.Effect<void, StateStoreError>
  readonly recentRuns: (pipeline: string, limit: number) => Effect.Effect<ReadonlyArray<Run>, StateStoreError>
  /**
   * Marks the pipeline's runs still `running` as `crashed`: called by a run that holds the
   * pipeline's lock, so any other `running` row belongs to a process that died. `lastSeen`, when
   * known (the dead holder's last lock renewal), is when they ended; else now. Answers how many.
   */
  readonly abandonRuns: (pipeline: string, lastSeen?: Date) => Effect.Effect<number, StateStoreError>

  /** The id-map rows of these keys, in one query. */
  readonly lookup: (
    pipeline: string,
    entity: string,
    keys: ReadonlyArray<SourceKey>,
  ) => Effect.Effect<ReadonlyMap<SourceKey, IdMapEntry>, StateStoreError>
  /** The id-map rows of keys of several entities, in one query (resolving a batch's references). */
  readonly lookupMany: (
    pipeline: string,
    wanted: ReadonlyArray<{ readonly entity: string; readonly keys: ReadonlyArray<SourceKey> }>,
  ) => Effect.Effect<ReadonlyArray<IdMapEntry>, StateStoreError>
  /** Records a batch as `pending` before it is sent (rows already `created` are left alone). */
  readonly markPending: (
    pipeline: string,
    entity: string,
    batchId: string,
    rows: ReadonlyArray<{
      readonly sourceKey: SourceKey
      readonly targetType: string
      readonly payloadHash: string
    }>,
  ) => Effect.Effect<void, StateStoreError>
  /** Every `pending` row of an entity: the batches an earlier run did not finish. */
  readonly pending: (
    pipeline: string,
    entity: string,
  ) => Effect.Effect<ReadonlyArray<IdMapEntry>, StateStoreError>
  /** Every `deleting` row of an entity: items to delete from the target (this run's or an earlier one's). */
  readonly deleting: (
    pipeline: string,
    entity: string,
  ) => Effect.Effect<ReadonlyArray<IdMapEntry>, StateStoreError>
  /** Commits a batch's id-map rows, dead letters and the checkpoint in one transaction. Idempotent. */
  readonly commit: (batch: BatchCommit) => Effect.Effect<void, StateStoreError>
  /**
   * The entity's rows in these statuses, optionally only those whose batch id starts with
   * `batchPrefix` (a run's rows: `<run id>:`), ordered by source key.
   */
  readonly idMapRows: (
    pipeline: string,
    entity: string,
    options: {
      readonly statuses: ReadonlyArray<IdMapStatus>
      readonly batchPrefix?: string | undefined
    },
  ) => Effect.Effect<ReadonlyArray<IdMapEntry>, StateStoreError>
  /** Row counts by entity and status. */
  readonly idMapCounts: (
    pipeline: string,
  ) => Effect.Effect<
    ReadonlyArray<{ readonly entity: string; readonly status: IdMapStatus; readonly count: number }>,
    StateStoreError
  >

  readonly checkpoint: (
    pipeline: string,
    entity: string,
  ) => Effect.Effect<Option.Option<Json>, StateStoreError>
  /**
   * Forgets an entity's checkpoint, keeping its id map: the next run reads every record again and
   * writes only what the id map does not have as written (after `undo`).
   */
  readonly forgetCheckpoint: (pipeline: string, entity: string) => Effect.Effect<void, StateStoreError>
  readonly checkpoints: (
    pipeline: string,
  ) => Effect.Effect<
    ReadonlyArray<{ readonly entity: string; readonly cursor: Json; readonly updatedAt: Date }>,
    StateStoreError
  >

  readonly deadLetters: (
    pipeline: string,
    options?: { readonly entity?: string | undefined; readonly limit?: number | undefined },
  ) => Effect.Effect<ReadonlyArray<DeadLetter>, StateStoreError>
  /** Dead letters that count (not dismissed). */
  readonly deadLetterCount: (pipeline: string) => Effect.Effect<number, StateStoreError>
  /** Marks dead letters as dismissed (known-bad); answers how many were newly dismissed. */
  readonly dismissDeadLetters: (
    pipeline: string,
    selection: DeadLetterSelection,
  ) => Effect.Effect<number, StateStoreError>
  /** The dead letters of keys of several entities, in one query (why a reference failed). */
  readonly lookupDeadLetters: (
    pipeline: string,
    wanted: ReadonlyArray<{ readonly entity: string; readonly keys: ReadonlyArray<SourceKey> }>,
  ) => Effect.Effect<ReadonlyArray<DeadLetter>, StateStoreError>

  /** The pipeline's binding, once a run has recorded one. */
  readonly binding: (pipeline: string) => Effect.Effect<Option.Option<Binding>, StateStoreError>
  /** Every pipeline's binding on this store (to find another pipeline with the same originator). */
  readonly bindings: Effect.Effect<ReadonlyArray<Binding>, StateStoreError>
  /** Records (or moves, after `relink`) what the pipeline's state belongs to. */
  readonly bind: (binding: Omit<Binding, "boundAt">) => Effect.Effect<void, StateStoreError>

  /**
   * Forgets an entity's (or the whole pipeline's) id map, checkpoints and dead letters; the
   * whole pipeline's reset forgets its binding too.
   */
  readonly reset: (pipeline: string, entity?: string) => Effect.Effect<void, StateStoreError>

  /**
   * Takes the lock `name` for `owner` for `leaseMs`, or renews it when `owner` holds it already.
   * Answers false when another owner holds an unexpired lease. A holder that dies stops renewing,
   * and the lock is free once its lease has run out.
   */
  readonly acquireLock: (
    name: string,
    owner: string,
    leaseMs: number,
  ) => Effect.Effect<boolean, StateStoreError>
  readonly releaseLock: (name: string, owner: string) => Effect.Effect<void, StateStoreError>

  /**
   * A credential a sink keeps between runs because it rotates (an OAuth refresh token works
   * once), shared by every process on this store. Values are opaque: the sink encrypts them.
   */
  readonly loadCredential: (name: string) => Effect.Effect<Option.Option<string>, StateStoreError>
  readonly saveCredential: (name: string, value: string) => Effect.Effect<void, StateStoreError>

  /**
   * Leaky buckets every process on this store shares (one per portal), so several processes
   * writing to one portal keep to its rate limit together. Present on PostgreSQL only; absent,
   * sinks limit their rate within the process.
   */
  readonly rateBuckets?: RateBuckets | undefined
}

export const StateStore = Context.GenericTag<StateStore>("@b24etl/core/StateStore")

/** The state store failed; `operation` says what it was doing. The message never holds a password. */
export class StateStoreError extends Data.TaggedError("StateStoreError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}
