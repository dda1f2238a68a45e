import { Data, Effect, Option, type Scope } from "effect"
import * as Pipeline from "../../Pipeline.js"
import type * as Progress from "../../Progress.js"
import type * as Sink from "../../Sink.js"
import { type IdMapEntry, StateStore, type StateStoreError } from "../../StateStore.js"
import { targetOf } from "./bind.js"
import { credentialsOf } from "./connect.js"
import { originId } from "./context.js"
import { takeLock } from "./lock.js"
import { chunked } from "./write.js"

/**
 * `undo`: deletes from the target what a run (or the whole pipeline, or one entity) created, the
 * last entity of the write order first, so a child goes before the parent it links to. It works
 * like the pending protocol: each batch's rows are marked `deleting` before the deletion is sent
 * and `deleted` once the target answered, so an interrupted undo leaves `deleting` rows that the
 * next undo finishes. The checkpoints of the entities it deletes from are forgotten, so a later
 * run reads their records again and creates these (`deleted` rows count as absent).
 * It never deletes an item it did not create: before each batch it asks the target which item
 * carries the record's identity for this pipeline's originator (`find`), and deletes only the
 * items whose id is the one the id map holds; the others are left alone and reported. Updates a
 * run made are not undone: the items it only updated keep their new values.
 */

/** Items of the id map the undo leaves in the target: their identity there is not the pipeline's. */
export interface UndoSkipped {
  readonly key: string
  readonly targetId: string
  /** The id the target has for the record's identity, when it has another item for it. */
  readonly foundId?: string | undefined
}

/** A deletion the target refused: the row stays `deleting`, and the next undo sends it again. */
export interface UndoFailure {
  readonly key: string
  readonly targetId: string
  readonly code: string
  readonly message: string
}

/** What undo did (or, dry or unconfirmed, would do) for one entity. */
export interface UndoEntity {
  readonly entity: string
  readonly target: string
  /** Id-map rows to undo: created by the run (or the pipeline), or left `deleting` by an interrupted undo. */
  readonly items: number
  /** Items deleted from the target (an item already gone counts). */
  readonly deleted: number
  /**
   * Rows whose item the target does not hold as this pipeline's (gone, or another item carries
   * the identity): not deleted there, and forgotten in the id map (the next run creates them).
   */
  readonly skipped: ReadonlyArray<UndoSkipped>
  readonly failed: ReadonlyArray<UndoFailure>
}

export interface UndoResult {
  readonly pipeline: string
  /** The run undone; absent when undoing everything the pipeline (or the entities) created. */
  readonly run?: string | undefined
  readonly dryRun: boolean
  /** False when the confirmation was refused: nothing was changed. */
  readonly confirmed: boolean
  /** Whether a stop request ended it before every item was deleted (the next undo goes on). */
  readonly interrupted: boolean
  /** In the order the items are deleted: the last entity of the write order first. */
  readonly entities: ReadonlyArray<UndoEntity>
}

/** The counts undo asks to confirm, per entity, in the order it deletes. */
export interface UndoCounts {
  readonly entity: string
  readonly target: string
  readonly items: number
}

export interface UndoOptions {
  /** Only what this run created (id-map rows whose batch id starts with `<run id>:`). */
  readonly run?: string | undefined
  /** Only these entities (default: all). */
  readonly entities?: ReadonlyArray<string> | undefined
  /** Count what would be deleted; nothing is sent and no state is changed. */
  readonly dryRun?: boolean | undefined
  /**
   * Asked with the counts, with the lock held, before anything is deleted: false changes
   * nothing. Without it the undo goes ahead.
   */
  readonly confirm?: ((counts: ReadonlyArray<UndoCounts>) => Effect.Effect<boolean>) | undefined
  /** Completes when the undo should stop: the batch in flight finishes and is recorded. */
  readonly stop?: Effect.Effect<void> | undefined
  readonly lockLeaseMs?: number | undefined
}

/** Why undo could not run: the message says what, and what to do. */
export class UndoRefusal extends Data.TaggedError("UndoRefusal")<{
  readonly message: string
  readonly locked?: boolean | undefined
}> {}

const refuse = (message: string, locked?: boolean): UndoRefusal => new UndoRefusal({ message, locked })

/** One batch: marked `deleting`, checked against the target's identities, deleted, then `deleted`. */
const undoBatch = (
  store: StateStore,
  sink: Sink.Connection,
  remove: NonNullable<Sink.Connection["delete"]>,
  pipeline: string,
  entity: string,
  target: Sink.Target,
  batch: ReadonlyArray<IdMapEntry & { readonly targetId: string }>,
) =>
  Effect.gen(function* () {
    const created = batch.filter((r) => r.status === "created")
    if (created.length > 0)
      yield* store.commit({
        pipeline,
        entity,
        created: [],
        deleting: created.map((r) => ({ sourceKey: r.sourceKey, payloadHash: r.payloadHash })),
      })
    const found = yield* sink.find(
      target,
      batch.map((r) => ({ sourceKey: r.sourceKey, originId: originId(entity, r.sourceKey), fields: {} })),
    )
    const ours = batch.filter((r) => found.get(originId(entity, r.sourceKey)) === r.targetId)
    const skipped: Array<UndoSkipped> = batch
      .filter((r) => found.get(originId(entity, r.sourceKey)) !== r.targetId)
      .map((r) => ({
        key: r.sourceKey,
        targetId: r.targetId,
        foundId: found.get(originId(entity, r.sourceKey)),
      }))
    const results =
      ours.length === 0
        ? []
        : yield* remove(
            target,
            ours.map((r) => ({ sourceKey: r.sourceKey, targetId: r.targetId })),
          )
    const done: Array<string> = []
    const failed: Array<UndoFailure> = []
    ours.forEach((r, i) => {
      const answer = results[i]
      if (answer?._tag === "Written") done.push(r.sourceKey)
      else
        failed.push({
          key: r.sourceKey,
          targetId: r.targetId,
          code: answer?.code ?? "NO_RESULT",
          message:
            answer === undefined
              ? `the target answered no result for the deletion of item ${r.targetId}`
              : `${answer.field ? `${answer.field}: ` : ""}${answer.message}`,
        })
    })
    yield* store.commit({
      pipeline,
      entity,
      created: [],
      deleted: [...done, ...skipped.map((s) => s.key)],
    })
    return { deleted: done.length, skipped, failed }
  })

/** Undoes what `options` selects with the pipeline's lock held. */
export const undoPipeline = (
  pipeline: Pipeline.Pipeline,
  options: UndoOptions,
): Effect.Effect<
  UndoResult,
  Pipeline.DefinitionError | UndoRefusal | Sink.SinkError | StateStoreError,
  StateStore | Progress.Progress | Scope.Scope
> =>
  Effect.gen(function* () {
    const store = yield* StateStore
    const order = yield* Pipeline.validate(pipeline)
    for (const name of options.entities ?? []) {
      if (!order.includes(name))
        return yield* refuse(`unknown entity "${name}" (entities: ${order.join(", ")})`)
    }
    const selected = options.entities ? order.filter((n) => options.entities!.includes(n)) : order
    const dryRun = options.dryRun ?? false
    if (options.run !== undefined && options.run.trim() === "") return yield* refuse("--run needs a run id")
    if (!dryRun) {
      yield* takeLock(pipeline.name, { leaseMs: options.lockLeaseMs ?? 60_000, tick: undefined }).pipe(
        Effect.catchTags({
          LockError: (e) =>
            Effect.fail(
              refuse(
                `another process is running pipeline "${pipeline.name}" (${e.message}); wait for it to finish, then undo`,
                true,
              ),
            ),
          AlreadyRan: (e) => Effect.fail(refuse(e.message)),
        }),
      )
    }
    const sink = yield* pipeline.sink.connect({
      originator: Pipeline.originator(pipeline),
      dryRun: false,
      credentials: credentialsOf(store),
    })
    const remove = sink.delete
    if (remove === undefined)
      return yield* refuse(`the ${pipeline.sink.kind} sink cannot delete items, so nothing can be undone`)
    // The ids in the id map are ids of the portal the state is bound to, and of no other.
    const bound = Option.getOrUndefined(yield* store.binding(pipeline.name))
    const target = targetOf(pipeline.sink, sink)
    if (bound !== undefined && bound.target !== target)
      return yield* refuse(
        `the state of pipeline "${pipeline.name}" belongs to ${bound.target}, not to ${target}: its ids name items of that portal, so undo deletes nothing here. Point the pipeline at that portal to undo there`,
      )

    const deleteOrder = [...selected].reverse()
    const batchPrefix = options.run === undefined ? undefined : `${options.run}:`
    const rows = new Map<string, ReadonlyArray<IdMapEntry & { readonly targetId: string }>>()
    for (const name of deleteOrder) {
      const found = yield* store.idMapRows(pipeline.name, name, {
        statuses: ["created", "deleting"],
        batchPrefix,
      })
      rows.set(
        name,
        found.flatMap((r) => (r.targetId === null ? [] : [{ ...r, targetId: r.targetId }])),
      )
    }
    const counts: ReadonlyArray<UndoCounts> = deleteOrder.map((name) => ({
      entity: name,
      target: pipeline.entities[name]!.to.name,
      items: rows.get(name)!.length,
    }))
    const untouched = (confirmed: boolean): UndoResult => ({
      pipeline: pipeline.name,
      run: options.run,
      dryRun,
      confirmed,
      interrupted: false,
      entities: counts.map((c) => ({ ...c, deleted: 0, skipped: [], failed: [] })),
    })
    const total = counts.reduce((n, c) => n + c.items, 0)
    if (dryRun || total === 0) return untouched(true)
    if (options.confirm !== undefined && !(yield* options.confirm(counts))) return untouched(false)

    let stopping = false
    if (options.stop)
      yield* options.stop.pipe(Effect.zipRight(Effect.sync(() => (stopping = true))), Effect.forkScoped)
    // The records of the deleted items lie behind the checkpoints: the next run reads them again.
    for (const c of counts) if (c.items > 0) yield* store.forgetCheckpoint(pipeline.name, c.entity)
    const entities: Array<UndoEntity> = []
    for (const c of counts) {
      let deleted = 0
      const skipped: Array<UndoSkipped> = []
      const failed: Array<UndoFailure> = []
      for (const batch of chunked(rows.get(c.entity)!, sink.updateBatchSize)) {
        if (stopping) break
        const done = yield* undoBatch(
          store,
          sink,
          remove,
          pipeline.name,
          c.entity,
          pipeline.entities[c.entity]!.to,
          batch,
        )
        deleted += done.deleted
        skipped.push(...done.skipped)
        failed.push(...done.failed)
      }
      entities.push({ ...c, deleted, skipped, failed })
    }
    return {
      pipeline: pipeline.name,
      run: options.run,
      dryRun,
      confirmed: true,
      interrupted: stopping,
      entities,
    }
  })
