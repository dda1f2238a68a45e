import { Chunk, Clock, Data, Effect, Ref, Stream } from "effect"
import { adoptIfEmpty, holdBack } from "./internal/runner/adopt.js"
import { bindRun } from "./internal/runner/bind.js"
import { classifyChunk } from "./internal/runner/classify.js"
import { advanceCheckpoint, commitUnsent } from "./internal/runner/commit.js"
import { connectSources, credentialsOf } from "./internal/runner/connect.js"
import * as Context from "./internal/runner/context.js"
import { linkDeferred } from "./internal/runner/deferredLinks.js"
import { takeLock } from "./internal/runner/lock.js"
import { planPipeline } from "./internal/runner/plan.js"
import { type Outcome, prepare } from "./internal/runner/prepare.js"
import { read } from "./internal/runner/read.js"
import { reconcilePending } from "./internal/runner/reconcile.js"
import { type RelinkResult, relinkPipeline } from "./internal/runner/relink.js"
import { finishRun } from "./internal/runner/report.js"
import { resolveChunk } from "./internal/runner/resolve.js"
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
 * (`commit.ts`). Links held back by a cycle are made last (`deferredLinks.ts`). Because pending
 * records are found in the target before anything is sent again, no run creates a record twice.
 * Before any of it, the state must belong to the portal and source at hand (`bind.ts`); an entity
 * whose id map is empty first adopts the pipeline's items the portal holds (`adopt.ts`).
 */

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
   * Completes when the run should stop (SIGINT/SIGTERM): reading stops, batches in flight are
   * finished and committed, and the report says `interrupted`.
   */
  readonly stop?: Effect.Effect<void> | undefined
  /** Records per id-map lookup and per checkpoint step. Default: the pipeline's bufferSize or 500. */
  readonly chunkSize?: number | undefined
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
}

export interface PlanResult {
  readonly pipeline: string
  readonly order: ReadonlyArray<string>
  readonly entities: ReadonlyArray<PlanEntityResult>
  readonly sink: Sink.PlanReport
}

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
    }),
  )

/**
 * Runs a pipeline. Fails only when it cannot start (bad definition, lock held by another
 * process, source or sink unreachable); once started it answers a report, whose status says
 * whether it succeeded, finished with dead letters, failed (with the error) or was stopped.
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
                      message: `another process is running pipeline "${pipeline.name}" (${e.message}); wait for it to finish, or for its lease (${leaseMs} ms) to run out if it died`,
                    }),
            ),
          )

      const sources = yield* connectSources(pipeline, selected).pipe(
        Effect.mapError((e) =>
          fail(`cannot read source ${e.source}${e.where ? ` (${e.where})` : ""}: ${e.message}`, undefined, e),
        ),
      )
      const sink = yield* pipeline.sink
        .connect({ originator: Pipeline.originator(pipeline), dryRun, credentials: credentialsOf(store) })
        .pipe(Effect.mapError((e) => fail(`cannot connect to ${e.sink}: ${e.message}`, undefined, e)))
      // Before anything is read or written: the state must belong to this portal and source.
      const refusals = yield* bindRun(
        store,
        pipeline,
        { sink, sources },
        { dryRun, acceptSourceChange: options.acceptSourceChange ?? false },
      ).pipe(Effect.mapError(storeFailure))
      if (refusals.length > 0) return yield* Effect.fail(fail(refusals.map((r) => r.message).join("; ")))

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
          chunkSize: options.chunkSize ?? pipeline.options?.bufferSize ?? 500,
        },
      })
      if (options.stop) yield* options.stop.pipe(Effect.zipRight(ctx.stop), Effect.forkScoped)
      // Losing the lock (another process took it after our lease ran out) stops the run the same way.
      let lockLost: string | undefined
      if (lock) {
        yield* lock.lost.pipe(
          Effect.catchAll((e) => Effect.sync(() => (lockLost = e.message))),
          Effect.zipRight(ctx.stop),
          Effect.forkScoped,
        )
      }

      const entities: Array<EntityReport> = []
      const outcome = yield* Effect.either(
        Effect.gen(function* () {
          for (const name of selected) {
            if (yield* ctx.isStopping) break
            entities.push(yield* runEntity(ctx, name, sources.get(pipeline.entities[name]!.from.source)!))
          }
          if (!(yield* ctx.isStopping)) yield* linkDeferred(ctx)
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

/** One entity through the stages: reconcile, read, prepare, then each chunk; answers its report. */
const runEntity = (ctx: Context.RunContext, name: string, conn: Source.Connection<unknown>) =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    const entity = ctx.pipeline.entities[name]!
    const counters = yield* Ref.make(Progress.emptyCounters)
    if (!ctx.dryRun) yield* reconcilePending(ctx, { name, target: entity.to })
    const adopted = yield* adoptIfEmpty(ctx, { name, target: entity.to })
    const { records, deadKeys } = yield* read(ctx, { name, entity, conn })
    const bump = (delta: Partial<Progress.Counters>) =>
      Ref.update(counters, (c) => Progress.add(c, delta)).pipe(
        Effect.zipRight(ctx.progress.advance(name, delta)),
      )
    const er: Context.EntityRun = { name, entity, target: entity.to, conn, deadKeys, bump }
    const preparer = prepare(ctx.pipeline.name, name, entity)
    yield* records.pipe(
      Stream.grouped(ctx.reading.chunkSize),
      // Records are prepared one chunk after another, in read order, as steps may expect.
      Stream.mapEffect((chunk) => preparer.chunk(Chunk.toReadonlyArray(chunk))),
      // In order: one chunk at a time, so no batch of a later chunk overtakes this one's.
      Stream.mapEffect((outcomes) => throughStages(ctx, er, outcomes), {
        concurrency: entity.inOrder === true ? 1 : 2,
      }),
      // Chunks complete in read order here, so a checkpoint never passes a record that is not committed.
      Stream.runForEach((position) => advanceCheckpoint(ctx, name, position)),
    )
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
 * One chunk: classify against the id map, resolve references, commit what is not sent, send
 * creates and updates. Answers the chunk's last position, for the checkpoint.
 */
const throughStages = (ctx: Context.RunContext, er: Context.EntityRun, outcomes: ReadonlyArray<Outcome>) =>
  Effect.gen(function* () {
    yield* er.bump({ read: outcomes.length })
    const classified = yield* classifyChunk(ctx, er, outcomes)
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
    yield* writeChunk(ctx, er, creates, resolved.updates)
    return outcomes[outcomes.length - 1]?.position
  }).pipe(Effect.mapError(runFailure(ctx.pipeline.name, ctx.store.location, er.name)))

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
