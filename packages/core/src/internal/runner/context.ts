import { Deferred, Effect, Ref } from "effect"
import type * as Dropped from "../../Dropped.js"
import type * as Pipeline from "../../Pipeline.js"
import type * as Progress from "../../Progress.js"
import type { RunWarning } from "../../Report.js"
import type * as Sink from "../../Sink.js"
import type * as Source from "../../Source.js"
import type { DeadLetter, StateStore } from "../../StateStore.js"
import type { DeferredLink } from "./deferredLinks.js"

/**
 * What the stages of one run share: the pipeline, the state store, the sink connection, the
 * progress display, the stop signal, and what one entity leaves for the next (ids made in a dry
 * run, records left out on purpose, links held back to break a cycle).
 */
export interface RunContext {
  readonly pipeline: Pipeline.Pipeline
  readonly store: StateStore
  readonly sink: Sink.Connection
  readonly progress: Progress.Progress
  /** Everything but the writes: nothing is sent and no state is changed. */
  readonly dryRun: boolean
  readonly runId: string
  /** What to read: at most `limit` records, only the dead letters, all of them, in chunks of `chunkSize`. */
  readonly reading: {
    readonly limit: number | undefined
    readonly onlyDeadLetters: boolean
    /** Every record from the start, ignoring checkpoints (`--full`): only what changed is written. */
    readonly full: boolean
    readonly chunkSize: number
  }
  /** Completes once a stop is requested: reading halts, batches in flight finish and commit. */
  readonly stopSignal: Effect.Effect<void>
  readonly isStopping: Effect.Effect<boolean>
  /**
   * Requests the stop (SIGINT/SIGTERM, or the pipeline's lock lost). Answers the batches in
   * flight at that moment (they finish and commit), or `undefined` when a stop was already requested.
   */
  readonly stop: Effect.Effect<InFlight | undefined>
  /** Runs a sink call with one of the sink's `concurrency` permits. */
  readonly call: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /**
   * Sends one batch of `records` records (`send`: mark pending, call the sink, commit) in one of
   * the sink's `concurrency` slots, unless a stop was requested before its turn came: then nothing
   * is sent and it answers `false`. A batch is in flight from the moment it has its slot, so a stop
   * lets at most `concurrency` batches through, not every record read ahead.
   */
  readonly sendBatch: <E, R>(records: number, send: Effect.Effect<void, E, R>) => Effect.Effect<boolean, E, R>
  /** A new batch id for the entity: `run:entity:n`, numbered across the run. */
  readonly nextBatchId: (entity: string) => string
  /** Records this run left out on purpose, so a dependant's dead letter can say why its link is missing. */
  readonly skipped: Map<string, "deleted" | "filtered">
  /** Ids created in a dry run exist nowhere else; references between dry-run records use them. */
  readonly dryRunIds: Map<string, string>
  /** Links to make once every entity exists (cycles broken by deferral). */
  readonly deferredLinks: Array<DeferredLink>
  /**
   * The latest cursor time (milliseconds) a checkpoint may pass: the run's start plus a
   * tolerance. Records with a later cursor are written but read again next time.
   */
  readonly cursorLimit: number
  /** The dead letters of the entities read so far as they were when the run started, by `recordKey`. */
  readonly letters: Map<string, Pick<DeadLetter, "code" | "message" | "dismissedAt">>
  /**
   * The records this run gave a dead letter, by `recordKey`: true when it counts (the run is
   * `partial`), false when it stays dismissed (the same failure a user acknowledged).
   */
  readonly failed: Map<string, boolean>
  /** What the report warns about (cursors in the future). */
  readonly warnings: Array<RunWarning>
  /**
   * Items a dry run would delete, by entity (a real run keeps them in the id map as `deleting`).
   */
  readonly dryRunDeletes: Map<string, Array<Sink.SinkDelete>>
  /** Values field helpers dropped from the records this run writes (the first `maxDropped`). */
  readonly dropped: Array<Dropped.DroppedField>
}

/** The batches being sent, and their records. */
export interface InFlight {
  readonly batches: number
  readonly records: number
}

/** The stop and the batches in flight, changed together. */
interface Flight extends InFlight {
  readonly stopping: boolean
}

/** Dropped values a run keeps for its report and `pipeline failures --warnings`; the count goes on. */
export const maxDropped = 1_000

/** One entity in a run: what it reads, where it writes, and its counters. */
export interface EntityRun {
  readonly name: string
  readonly entity: Pipeline.AnyEntity
  readonly target: Sink.Target
  readonly conn: Source.Connection<unknown>
  /** The entity's keys in the dead letters when it started: written now, they leave them. */
  readonly deadKeys: ReadonlySet<string>
  /**
   * Keys the source holds twice: their `DUPLICATE_KEY` dead letter stays when one copy is
   * written (filled as the read finds them, and from the dead letters when the entity starts).
   */
  readonly duplicates: Set<string>
  /** Adds to the entity's counters and shows it. */
  readonly bump: (delta: Partial<Progress.Counters>) => Effect.Effect<void>
}

/** A record of the pipeline, named across entities (keys of the id-map lookups). */
export const recordKey = (entity: string, key: string): string => `${entity}\u0000${key}`

/** The identity a record carries in the target, stable across runs: `company:42`. */
export const originId = (entity: string, key: string): string => `${entity}:${key}`

/** Builds a run's context: no stop requested yet, no batch sent. */
export const make = (
  options: Pick<
    RunContext,
    "pipeline" | "store" | "sink" | "progress" | "dryRun" | "runId" | "reading" | "cursorLimit"
  >,
): Effect.Effect<RunContext> =>
  Effect.gen(function* () {
    const stopping = yield* Deferred.make<void>()
    const permits = yield* Effect.makeSemaphore(Math.max(1, options.sink.concurrency))
    const slots = yield* Effect.makeSemaphore(Math.max(1, options.sink.concurrency))
    // One state for the stop and the batches in flight, so a batch is either admitted before the
    // stop (and counted in what it says is finishing) or not sent at all.
    const flight = yield* Ref.make<Flight>({ stopping: false, batches: 0, records: 0 })
    let batchSeq = 0
    return {
      ...options,
      stopSignal: Deferred.await(stopping),
      isStopping: Deferred.isDone(stopping),
      stop: Ref.modify(flight, (f): [InFlight | undefined, Flight] =>
        f.stopping
          ? [undefined, f]
          : [
              { batches: f.batches, records: f.records },
              { ...f, stopping: true },
            ],
      ).pipe(Effect.tap(() => Deferred.succeed(stopping, undefined))),
      call: permits.withPermits(1),
      sendBatch: (records, send) =>
        slots.withPermits(1)(
          Ref.modify(flight, (f): [boolean, Flight] =>
            f.stopping ? [false, f] : [true, { ...f, batches: f.batches + 1, records: f.records + records }],
          ).pipe(
            Effect.flatMap((admitted) =>
              admitted
                ? send.pipe(
                    Effect.ensuring(
                      Ref.update(flight, (f) => ({
                        ...f,
                        batches: f.batches - 1,
                        records: f.records - records,
                      })),
                    ),
                    Effect.as(true),
                  )
                : Effect.succeed(false),
            ),
          ),
        ),
      nextBatchId: (entity) => `${options.runId}:${entity}:${batchSeq++}`,
      skipped: new Map(),
      dryRunIds: new Map(),
      deferredLinks: [],
      letters: new Map(),
      failed: new Map(),
      warnings: [],
      dryRunDeletes: new Map(),
      dropped: [],
    }
  })
