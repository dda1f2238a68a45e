import { Chunk, Clock, Data, Effect, Ref, Stream } from "effect"
import { adoptIfEmpty, askAhead, holdBack } from "./internal/runner/adopt.js"
import { bindRun } from "./internal/runner/bind.js"
import { classifyChunk } from "./internal/runner/classify.js"
import { advanceCheckpoint, commit, commitUnsent } from "./internal/runner/commit.js"
import { connectSources, credentialsOf } from "./internal/runner/connect.js"
import * as Context from "./internal/runner/context.js"
import * as CursorGuard from "./internal/runner/cursorGuard.js"
import { linkDeferred } from "./internal/runner/deferredLinks.js"
import { cannotDelete, deleteMarked, markForDeletion } from "./internal/runner/deletions.js"
import * as Duplicates from "./internal/runner/duplicates.js"
import type { Left } from "./internal/runner/left.js"
import { takeLock } from "./internal/runner/lock.js"
import { planPipeline } from "./internal/runner/plan.js"
import {
  checkFields,
  checkReachable,
  describeProblems,
  describeUnreachable,
} from "./internal/runner/preflight.js"
import { type Outcome, type Prepared, prepare } from "./internal/runner/prepare.js"
import { read } from "./internal/runner/read.js"
import { reconcilePending } from "./internal/runner/reconcile.js"
import { type RelinkResult, relinkPipeline } from "./internal/runner/relink.js"
import { finishRun } from "./internal/runner/report.js"
import { resolveChunk } from "./internal/runner/resolve.js"
import { type UndoOptions, type UndoResult, undoPipeline } from "./internal/runner/undo.js"
import { type VerifyOptions, type VerifyResult, verifyPipeline } from "./internal/runner/verify.js"
import { writeChunk } from "./internal/runner/write.js"
import * as Pipeline from "./Pipeline.js"
import * as Progress from "./Progress.js"
import type { EntityReport, RunReport } from "./Report.js"
import type * as Sink from "./Sink.js"
import type * as Source from "./Source.js"
import { StateStore, type StateStoreError } from "./StateStore.js"

/**
 * The run loop. For each entity, in the order of its references: find what a crashed run left
 * pending (`internal/runner/reconcile.ts`), read the source from the checkpoint (`read.ts`),
 * decode, transform and map each record (`prepare.ts`), then in chunks: sort the records against
 * the id map (`classify.ts`), resolve references to ids (`resolve.ts`), record the creates as
 * `pending` and send them in batches (`write.ts`), and commit ids, dead letters and the checkpoint
 * (`commit.ts`). Links held back by a cycle are made last (`deferredLinks.ts`), then the items
 * a `delete` policy marked, dependants first (`deletions.ts`). Before any of it, the sink checks
 * the fields the mappings produce on a sample (`preflight.ts`). Because pending
 * records are found in the target before anything is sent again, no run creates a record twice.
 * Before any of it, the state must belong to the portal and source at hand (`bind.ts`); an entity
 * whose id map is empty first adopts the pipeline's items the portal holds (`adopt.ts`). First
 * of all, every source and the sink answer one cheap request within seconds (`preflight.ts`).
 */

/** What a run of an entity would do given the state, as `plan` counts it. */
export type { Left } from "./internal/runner/left.js"

export interface RunOptions {
  /** Everything but the writes: nothing is sent and no state is changed. */
  readonly dryRun?: boolean | undefined
  /** Read at most this many records per entity. */
  readonly limit?: number | undefined
  /** Only these entities (their references must already be in the id map). */
  readonly entities?: ReadonlyArray<string> | undefined
  /** Only the records in the dead letters, read again from the start (`pipeline retry`). */
  readonly onlyDeadLetters?: boolean | undefined
  /**
   * Every record read again from the start, ignoring checkpoints (`pipeline run --full`), to
   * re-apply a changed mapping: as in any run, only records whose payload hash differs from the
   * one last written are updated, and nothing that exists is created again.
   */
  readonly full?: boolean | undefined
  /**
   * Completes when the run should stop (SIGINT/SIGTERM): reading stops, batches in flight are
   * finished and committed, and the report says `interrupted`.
   */
  readonly stop?: Effect.Effect<void> | undefined
  /** Records per id-map lookup and per checkpoint step. Default: the pipeline's bufferSize or 500. */
  readonly chunkSize?: number | undefined
  /**
   * How far past the run's start (milliseconds) a cursor may be before the checkpoint stops
   * before it. Default: the pipeline's `cursorToleranceMs`, or 5 minutes.
   */
  readonly cursorToleranceMs?: number | undefined
  /** How long the pipeline lock is held without renewal; a dead holder loses it after this. */
  readonly lockLeaseMs?: number | undefined
  /**
   * A scheduled tick: once the lock is held, the run is skipped when a run of this pipeline has
   * started at or after this time (another process served the same tick).
   */
  readonly tick?: Date | undefined
  /**
   * The source's location differs from the one the pipeline's state remembers (a moved or
   * restored database): go on, and remember the new one. Without it such a run stops before it
   * reads (`--accept-source-change`).
   */
  readonly acceptSourceChange?: boolean | undefined
}

/** The run could not start or had to stop: the message says what, where and what to do. */
export class RunError extends Data.TaggedError("RunError")<{
  readonly pipeline: string
  readonly entity?: string | undefined
  readonly message: string
  /** Another process holds the pipeline's lock: nothing was done. */
  readonly locked?: boolean | undefined
  /** Another process already ran this scheduled tick: nothing was done. */
  readonly alreadyRan?: boolean | undefined
  readonly cause?: unknown
}> {}

export interface PlanEntityResult {
  readonly entity: string
  readonly target: string
  readonly source: string
  readonly count?: number | undefined
  readonly fields: ReadonlyArray<string>
  readonly incremental: boolean
  /**
   * With `full`: what a `run --full` would write, every record compared with the id map by
   * payload hash. `updates`: items changed since they were last written (a changed mapping
   * counts); `creates`: records not in the target yet.
   */
  readonly changed?: { readonly updates: number; readonly creates: number } | undefined
  /**
   * With the state store: what a run would do given the state (read from the checkpoint, or from
   * the start with `full`): new, changed, unchanged, pending and dead-letter records. The
   * estimate counts only what is left to write.
   */
  readonly left?: Left | undefined
}

export interface PlanResult {
  readonly pipeline: string
  readonly order: ReadonlyArray<string>
  readonly entities: ReadonlyArray<PlanEntityResult>
  readonly sink: Sink.PlanReport
}

/** The end of a pre-flight failure's message: the state is as it was. */
const nothingDone = "Nothing was read or written; run again once this is fixed"

const message = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e && typeof e.message === "string"
    ? e.message
    : String(e)

/** A failure once running, as the run's error; the message never holds a password. */
const runFailure =
  (pipeline: string, storeLocation: string, entity?: string) =>
  (e: StateStoreError | Sink.SinkError | Source.SourceError): RunError =>
    new RunError({
      pipeline,
      entity: e._tag === "SinkError" ? entity : undefined,
      message:
        e._tag === "StateStoreError"
          ? `state store (${storeLocation}) failed while ${e.operation}: ${e.message}`
          : e._tag === "SinkError"
            ? `${e.sink} ${e.reason === "fatal" ? "refused" : "failed"}${e.code ? ` (${e.code})` : ""}: ${e.message}`
            : `source ${e.source}${e.where ? ` (${e.where})` : ""}: ${e.message}`,
      cause: e,
    })

/**
 * Checks a pipeline without writing: definition, entity order, source counts, and the sink's
 * check of the fields the mappings produce on a sample of records.
 */
export const plan = (
  pipeline: Pipeline.Pipeline,
  options: {
    readonly sample?: number
    /** Where the sink keeps rotating credentials; default: the state store, when one is provided. */
    readonly credentials?: Sink.Credentials | undefined
    /**
     * Also reads every record and counts what `run --full` would write (`changed` per entity),
     * comparing with the id map read-only: needs the state store provided.
     */
    readonly full?: boolean | undefined
  } = {},
): Effect.Effect<PlanResult, Pipeline.DefinitionError | RunError> =>
  Effect.scoped(planPipeline(pipeline, options)).pipe(
    Effect.catchTags({
      SourceError: (e) =>
        Effect.fail(
          new RunError({
            pipeline: pipeline.name,
            message: `${e.source}${e.where ? ` (${e.where})` : ""}: ${e.message}`,
            cause: e,
          }),
        ),
      SinkError: (e) =>
        Effect.fail(new RunError({ pipeline: pipeline.name, message: `${e.sink}: ${e.message}`, cause: e })),
      StateStoreError: (e) =>
        Effect.fail(
          new RunError({
            pipeline: pipeline.name,
            message: `state store failed while ${e.operation}: ${e.message}`,
            cause: e,
          }),
        ),
    }),
  )

/**
 * The pre-flight check of a run, dry or not: the sink checks the fields each mapping produces on
 * a sample of records, as `plan` does. Any problem (a misspelt field, with the nearest real one)
 * stops the run before it reads for writing, so nothing is written without its values.
 */
const checkBeforeWriting = (
  pipeline: Pipeline.Pipeline,
  entities: ReadonlyArray<string>,
  sources: ReadonlyMap<Source.Source<unknown>, Source.Connection<unknown>>,
  sink: Sink.Connection,
): Effect.Effect<void, RunError> =>
  checkFields(pipeline, entities, sources, sink).pipe(
    Effect.mapError(
      (e) =>
        new RunError({
          pipeline: pipeline.name,
          message:
            e._tag === "SinkError"
              ? `cannot check the mapped fields with ${e.sink}: ${e.message}`
              : `cannot read a sample of source ${e.source}${e.where ? ` (${e.where})` : ""}: ${e.message}`,
          cause: e,
        }),
    ),
    Effect.flatMap((problems) =>
      problems.length === 0
        ? Effect.void
        : Effect.fail(
            new RunError({
              pipeline: pipeline.name,
              entity: problems[0]!.entity,
              message: `the mappings do not fit the target, nothing was written: ${describeProblems(problems)}. Fix the mappings (\`pipeline plan ${pipeline.name}\` lists the same problems)`,
            }),
          ),
    ),
  )

/**
 * Runs a pipeline. Fails only when it cannot start (bad definition, lock held by another
 * process, source or sink unreachable, a mapped field the target does not have, a `delete` policy
 * the sink cannot apply); such a failure after the lock was taken is kept as a `failed` run with
 * its message (not in a dry run), nothing else changed. Once started it answers a report, whose
 * status says whether it succeeded, finished with dead letters, failed (with the error) or was
 * stopped.
 */
export const run = (
  pipeline: Pipeline.Pipeline,
  options: RunOptions = {},
): Effect.Effect<RunReport, Pipeline.DefinitionError | RunError, StateStore | Progress.Progress> =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* StateStore
      const progress = yield* Progress.Progress
      const order = yield* Pipeline.validate(pipeline)
      const dryRun = options.dryRun ?? false
      const fail = (message: string, entity?: string, cause?: unknown) =>
        new RunError({ pipeline: pipeline.name, entity, message, cause })
      const storeFailure = runFailure(pipeline.name, store.location)

      for (const name of options.entities ?? []) {
        if (!order.includes(name))
          return yield* Effect.fail(fail(`unknown entity "${name}" (entities: ${order.join(", ")})`, name))
      }
      const selected = options.entities ? order.filter((n) => options.entities!.includes(n)) : order

      const leaseMs = options.lockLeaseMs ?? 60_000
      const lock = dryRun
        ? undefined
        : yield* takeLock(pipeline.name, { leaseMs, tick: options.tick }).pipe(
            Effect.mapError((e) =>
              e._tag === "StateStoreError"
                ? storeFailure(e)
                : e._tag === "AlreadyRan"
                  ? new RunError({ pipeline: pipeline.name, alreadyRan: true, message: e.message })
                  : new RunError({
                      pipeline: pipeline.name,
                      locked: true,
                      message: `another process is running pipeline "${pipeline.name}" (${e.message}). Wait for it to finish; if you know it died, its lock frees itself ${e.expiresAt === undefined ? `within ${leaseMs} ms` : `at ${e.expiresAt.toISOString()}`}, or \`pipeline unlock ${pipeline.name}\` frees it now`,
                    }),
            ),
          )

      // Everything before reading: a failure here is recorded as a failed run with its reason, so
      // `status` after a night run tells why it stopped (nothing was read, written or left pending).
      const { sources, sink } = yield* Effect.gen(function* () {
        const sources = yield* connectSources(pipeline, selected).pipe(
          Effect.mapError((e) =>
            fail(
              `cannot reach source ${e.source}${e.where ? ` (${e.where})` : ""}: ${e.message}; check that the database or API is up and its URL and credentials are right. ${nothingDone}`,
              undefined,
              e,
            ),
          ),
        )
        const sink = yield* pipeline.sink
          .connect({
            originator: Pipeline.originator(pipeline),
            dryRun,
            credentials: credentialsOf(store),
            rateBuckets: store.rateBuckets,
          })
          .pipe(Effect.mapError((e) => fail(`cannot connect to ${e.sink}: ${e.message}`, undefined, e)))
        // Pre-flight: every source and the portal answer now, within seconds, or the run stops
        // here with nothing read, bound or pending.
        yield* checkReachable(sources, sink).pipe(
          Effect.mapError((failures) =>
            fail(
              `${describeUnreachable(pipeline.sink.name, failures)}. ${nothingDone}`,
              undefined,
              failures[0],
            ),
          ),
        )
        // Before anything is read or written: the state must belong to this portal and source.
        const refusals = yield* bindRun(
          store,
          pipeline,
          { sink, sources },
          { dryRun, acceptSourceChange: options.acceptSourceChange ?? false },
        ).pipe(Effect.mapError(storeFailure))
        if (refusals.length > 0) return yield* Effect.fail(fail(refusals.map((r) => r.message).join("; ")))
        const undeletable = cannotDelete(pipeline, selected, sink)
        if (undeletable.length > 0)
          return yield* Effect.fail(
            fail(
              `${undeletable.join(", ")}: the policy \`deleted: { policy: "delete" }\` needs a sink that can delete, and ${pipeline.sink.name} cannot`,
              undeletable[0],
            ),
          )
        yield* checkBeforeWriting(pipeline, selected, sources, sink)
        return { sources, sink }
      }).pipe(
        Effect.tapError((e) =>
          dryRun
            ? Effect.void
            : store.startRun(pipeline.name).pipe(
                Effect.flatMap((r) => store.finishRun(r.id, "failed", { entities: [], error: e.message })),
                Effect.ignore,
              ),
        ),
      )

      const runRow = dryRun
        ? { id: `dry-run-${yield* Clock.currentTimeMillis}` }
        : yield* store.startRun(pipeline.name).pipe(Effect.mapError(storeFailure))
      const startedAt = yield* Clock.currentTimeMillis
      const ctx = yield* Context.make({
        pipeline,
        store,
        sink,
        progress,
        dryRun,
        runId: runRow.id,
        reading: {
          limit: options.limit,
          onlyDeadLetters: options.onlyDeadLetters ?? false,
          full: options.full ?? false,
          chunkSize: options.chunkSize ?? pipeline.options?.bufferSize ?? 500,
        },
        cursorLimit:
          startedAt +
          (options.cursorToleranceMs ??
            pipeline.options?.cursorToleranceMs ??
            CursorGuard.defaultToleranceMs),
      })
      // Reading stops at once; the batches already sending finish and commit, and the user is told how many.
      const stopNow = ctx.stop.pipe(
        Effect.flatMap((inFlight) =>
          inFlight === undefined ? Effect.void : progress.note(finishingMessage(inFlight)),
        ),
      )
      if (options.stop) yield* options.stop.pipe(Effect.zipRight(stopNow), Effect.forkScoped)
      // Losing the lock (another process took it after our lease ran out) stops the run the same way.
      let lockLost: string | undefined
      if (lock) {
        yield* lock.lost.pipe(
          Effect.catchAll((e) => Effect.sync(() => (lockLost = e.message))),
          Effect.zipRight(stopNow),
          Effect.forkScoped,
        )
      }

      const entities: Array<EntityReport> = []
      const outcome = yield* Effect.either(
        Effect.gen(function* () {
          yield* askAhead(
            ctx,
            selected.map((name) => ({ name, target: pipeline.entities[name]!.to })),
          )
          for (const name of selected) {
            if (yield* ctx.isStopping) break
            entities.push(yield* runEntity(ctx, name, sources.get(pipeline.entities[name]!.from.source)!))
          }
          if (!(yield* ctx.isStopping)) yield* linkDeferred(ctx)
          // Deletions last, dependants first: a child is deleted before the parent it links to.
          if (!(yield* ctx.isStopping)) {
            const deleted = yield* deleteMarked(ctx, selected)
            for (const [name, d] of deleted) {
              const i = entities.findIndex((e) => e.entity === name)
              if (i >= 0)
                entities[i] = {
                  ...entities[i]!,
                  deleted: entities[i]!.deleted + d.deleted,
                  failed: entities[i]!.failed + d.failed,
                }
              yield* ctx.progress.advance(name, { deleted: d.deleted, failed: d.failed })
            }
          }
        }).pipe(
          Effect.mapError((e) =>
            e._tag === "RunError" ? e : runFailure(pipeline.name, store.location, "")(e),
          ),
        ),
      )
      const error = outcome._tag === "Left" ? message(outcome.left) : undefined
      return yield* finishRun(ctx, { entities, startedAt, error, lockLost })
    }),
  )

/** What a stop says it waits for: `stopping: finishing 2 batches (100 records)…`. */
export const finishingMessage = (inFlight: Context.InFlight): string =>
  inFlight.batches === 0
    ? "stopping: no batch in flight; the records read and not sent are read again by the next run"
    : `stopping: finishing ${inFlight.batches} ${inFlight.batches === 1 ? "batch" : "batches"} (${inFlight.records.toLocaleString("en-US")} records)…; the records read and not sent are read again by the next run`

/** One entity through the stages: reconcile, read, prepare, then each chunk; answers its report. */
const runEntity = (ctx: Context.RunContext, name: string, conn: Source.Connection<unknown>) =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    const entity = ctx.pipeline.entities[name]!
    const counters = yield* Ref.make(Progress.emptyCounters)
    if (!ctx.dryRun) yield* reconcilePending(ctx, { name, target: entity.to })
    const adopted = yield* adoptIfEmpty(ctx, { name, target: entity.to })
    const reading = yield* read(ctx, { name, entity, conn })
    const bump = (delta: Partial<Progress.Counters>) =>
      Ref.update(counters, (c) => Progress.add(c, delta)).pipe(
        Effect.zipRight(ctx.progress.advance(name, delta)),
      )
    const er: Context.EntityRun = {
      name,
      entity,
      target: entity.to,
      conn,
      deadKeys: reading.deadKeys,
      duplicates: new Set(reading.duplicateKeys),
      bump,
    }
    const preparer = prepare(ctx.pipeline.name, name, entity)
    const duplicates = Duplicates.finder(name)
    const guard = CursorGuard.guard(ctx.cursorLimit)
    let allSent = true
    yield* reading.records.pipe(
      Stream.grouped(ctx.reading.chunkSize),
      // Chunk after chunk, in read order: copies of a key are found, and the checkpoint's
      // position chosen, as records come; records are prepared in order, as steps may expect.
      Stream.mapEffect((chunk) => {
        const records = Chunk.toReadonlyArray(chunk)
        const guarded = guard.chunk(records)
        // A retry reads only some records: its positions say nothing of the ones between.
        const checkpoint = ctx.reading.onlyDeadLetters ? undefined : guarded
        const deduplicated = duplicates.chunk(records)
        for (const d of deduplicated.duplicates) er.duplicates.add(d.key)
        return Effect.map(preparer.chunk(deduplicated.records), (outcomes) => ({
          outcomes:
            deduplicated.duplicates.length === 0 ? outcomes : [...outcomes, ...deduplicated.duplicates],
          checkpoint,
        }))
      }),
      // In order: one chunk at a time, so no batch of a later chunk overtakes this one's.
      Stream.mapEffect(
        ({ outcomes, checkpoint }) =>
          Effect.map(throughStages(ctx, er, outcomes), (complete) => ({ complete, checkpoint })),
        {
          concurrency: entity.inOrder === true ? 1 : 2,
        },
      ),
      // Chunks complete in read order here, so a checkpoint never passes a record that is not
      // committed; after a chunk a stop cut short, it moves no more (the next run reads from there).
      Stream.runForEach(({ complete, checkpoint }) => {
        if (!complete) allSent = false
        return allSent ? advanceCheckpoint(ctx, name, checkpoint) : Effect.void
      }),
    )
    const future = guard.future()
    if (future.count > 0) {
      const message = CursorGuard.warning(name, future, ctx.cursorLimit)
      ctx.warnings.push({ entity: name, code: "FUTURE_CURSOR", message, keys: future.keys })
      yield* ctx.progress.note(message)
    }
    if (reading.fromStart && !(yield* ctx.isStopping))
      yield* clearFixedDuplicates(ctx, er, reading, duplicates)
    yield* ctx.progress.finish(name)
    const counted = yield* Ref.get(counters)
    const durationMs = (yield* Clock.currentTimeMillis) - started
    return {
      entity: name,
      target: entity.to.name,
      ...counted,
      durationMs,
      ...(adopted > 0 ? { adopted } : {}),
    } satisfies EntityReport
  })

/**
 * After a read of every record: a key with a `DUPLICATE_KEY` dead letter that the source now
 * holds once, and that did not fail otherwise in this run, was written (or is unchanged), so it
 * leaves the dead letters.
 */
const clearFixedDuplicates = (
  ctx: Context.RunContext,
  er: Context.EntityRun,
  reading: { readonly duplicateKeys: ReadonlySet<string> },
  duplicates: Duplicates.DuplicateFinder,
) => {
  const fixed = [...reading.duplicateKeys].filter(
    (key) => duplicates.seen(key) === 1 && !ctx.failed.has(Context.recordKey(er.name, key)),
  )
  return fixed.length === 0 ? Effect.void : commit(ctx, er.name, { created: [], recovered: fixed })
}

/**
 * One chunk: classify against the id map, resolve references, commit what is not sent, send
 * creates and updates. Answers whether all of it was sent: a chunk reached after a stop is left
 * alone, and one the stop cuts short keeps the batches that had not started.
 */
const throughStages = (
  ctx: Context.RunContext,
  er: Context.EntityRun,
  outcomes: ReadonlyArray<Outcome>,
): Effect.Effect<boolean, RunError> =>
  Effect.gen(function* () {
    // Read ahead of the writes: after a stop these records stay unread.
    if (yield* ctx.isStopping) return false
    yield* er.bump({ read: outcomes.length })
    const classified = yield* classifyChunk(ctx, er, outcomes)
    yield* markForDeletion(ctx, er, classified.deletes)
    const resolved = yield* resolveChunk(ctx, er, classified)
    const deadLetters = [...classified.failed, ...resolved.deadLetters]
    yield* commitUnsent(ctx, er, deadLetters, classified.unchanged)
    // Records the target holds more than once stay dead letters; creating one would add a copy.
    const { creates, held } = yield* holdBack(ctx, er.name, resolved.creates)
    yield* er.bump({
      failed: deadLetters.length + held,
      skipped: classified.filtered.length + classified.deleted.length,
      unchanged: classified.unchanged.length,
    })
    yield* noteDropped(ctx, er, [...creates, ...resolved.updates])
    return yield* writeChunk(ctx, er, creates, resolved.updates)
  }).pipe(Effect.mapError(runFailure(ctx.pipeline.name, ctx.store.location, er.name)))

/**
 * The values field helpers dropped from the records about to be written: counted as the entity's
 * `warnings`, the first ones kept for the report and `pipeline failures --warnings`.
 */
const noteDropped = (
  ctx: Context.RunContext,
  er: Context.EntityRun,
  items: ReadonlyArray<{ readonly record: Prepared }>,
) =>
  Effect.suspend(() => {
    let n = 0
    for (const { record } of items) {
      for (const d of record.dropped ?? []) {
        n++
        if (ctx.dropped.length < Context.maxDropped)
          ctx.dropped.push({ entity: er.name, sourceKey: record.key, ...d })
      }
    }
    return n === 0 ? Effect.void : er.bump({ warnings: n })
  })

export type { RelinkEntity, RelinkResult } from "./internal/runner/relink.js"

/**
 * Rebuilds the pipeline's id map from the target (`pipeline relink`): the items its originator
 * owns there are written as created (sent once as updates by the next run, never created again),
 * rows with no item are forgotten with the entity's checkpoint and dead letters (the next run
 * reads everything and creates what is missing), records found more than once are listed and
 * left out. Then the pipeline's state is bound to this target. Holds the pipeline's lock.
 */
export const relink = (
  pipeline: Pipeline.Pipeline,
  options: {
    /** Only these entities (default: all). */
    readonly entities?: ReadonlyArray<string> | undefined
    readonly lockLeaseMs?: number | undefined
  } = {},
): Effect.Effect<RelinkResult, Pipeline.DefinitionError | RunError, StateStore | Progress.Progress> =>
  Effect.scoped(relinkPipeline(pipeline, options)).pipe(
    Effect.catchTags({
      RelinkRefusal: (e) =>
        Effect.fail(new RunError({ pipeline: pipeline.name, message: e.message, locked: e.locked })),
      SinkError: (e) =>
        Effect.fail(
          new RunError({
            pipeline: pipeline.name,
            message: `${e.sink} ${e.reason === "fatal" ? "refused" : "failed"}${e.code ? ` (${e.code})` : ""}: ${e.message}`,
            cause: e,
          }),
        ),
      StateStoreError: (e) =>
        Effect.gen(function* () {
          const store = yield* StateStore
          return yield* Effect.fail(runFailure(pipeline.name, store.location)(e))
        }),
    }),
  )

/** The identity a record carries in the target, stable across runs: `company:42`. */
export const originId: (entity: string, key: string) => string = Context.originId

export type {
  UndoCounts,
  UndoEntity,
  UndoFailure,
  UndoOptions,
  UndoResult,
  UndoSkipped,
} from "./internal/runner/undo.js"

/**
 * Takes back what a run (`options.run`), or the pipeline or some of its entities, created in the
 * target (`pipeline undo`): the items are deleted in batches, the last entity of the write order
 * first, and their id-map rows become `deleted`, so a later run creates the records again. Only
 * items that still carry the record's identity for the pipeline's originator are deleted; the
 * others are reported and left alone. Updates are not undone. An interrupted undo leaves rows
 * `deleting`, which the next undo finishes. Holds the pipeline's lock (not in a dry run).
 */
export const undo = (
  pipeline: Pipeline.Pipeline,
  options: UndoOptions = {},
): Effect.Effect<UndoResult, Pipeline.DefinitionError | RunError, StateStore | Progress.Progress> =>
  Effect.scoped(undoPipeline(pipeline, options)).pipe(
    Effect.catchTags({
      UndoRefusal: (e) =>
        Effect.fail(new RunError({ pipeline: pipeline.name, message: e.message, locked: e.locked })),
      SinkError: (e) =>
        Effect.fail(
          new RunError({
            pipeline: pipeline.name,
            message: `${e.sink} ${e.reason === "fatal" ? "refused" : "failed"}${e.code ? ` (${e.code})` : ""}: ${e.message}; what was deleted is recorded, run undo again to finish`,
            cause: e,
          }),
        ),
      StateStoreError: (e) =>
        Effect.gen(function* () {
          const store = yield* StateStore
          return yield* Effect.fail(runFailure(pipeline.name, store.location)(e))
        }),
    }),
  )

export type { FieldDiff } from "./internal/runner/fieldDiff.js"
export type {
  Finding,
  FindingAction,
  FindingKind,
  VerifyCounts,
  VerifyEstimate,
  VerifyOptions,
  VerifyResult,
} from "./internal/runner/verify.js"
export { matches as verified } from "./internal/runner/verify.js"

/**
 * Compares the source, the id map and the target per entity (`pipeline verify`), writing nothing:
 * counts on each side, then each difference once, with what to do about it: items missing from
 * the target, items no id-map row knows, records held by more than one item, links that are not
 * what the source's references resolve to today, records the source no longer has, records never
 * written, and the mapped fields of a sample of records against their items.
 */
export const verify = (
  pipeline: Pipeline.Pipeline,
  options: VerifyOptions = {},
): Effect.Effect<VerifyResult, Pipeline.DefinitionError | RunError, StateStore> =>
  Effect.scoped(verifyPipeline(pipeline, options)).pipe(
    Effect.catchTags({
      VerifyRefusal: (e) => Effect.fail(new RunError({ pipeline: pipeline.name, message: e.message })),
      SinkError: (e) =>
        Effect.gen(function* () {
          const store = yield* StateStore
          return yield* Effect.fail(runFailure(pipeline.name, store.location)(e))
        }),
      SourceError: (e) =>
        Effect.gen(function* () {
          const store = yield* StateStore
          return yield* Effect.fail(runFailure(pipeline.name, store.location)(e))
        }),
      StateStoreError: (e) =>
        Effect.gen(function* () {
          const store = yield* StateStore
          return yield* Effect.fail(runFailure(pipeline.name, store.location)(e))
        }),
    }),
  )
