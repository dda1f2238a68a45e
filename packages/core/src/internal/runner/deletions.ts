import { Effect } from "effect"
import type * as Pipeline from "../../Pipeline.js"
import type * as Sink from "../../Sink.js"
import type { DeadLetterInput, StateStoreError } from "../../StateStore.js"
import type { Update } from "./classify.js"
import { commit } from "./commit.js"
import type { EntityRun, RunContext } from "./context.js"
import { chunked } from "./write.js"

/**
 * Deletions under an entity's `delete` policy. A record the source marks deleted whose item is in
 * the target is first marked `deleting` in the id map, committed with its chunk before the
 * checkpoint passes it; the items are deleted once every entity has run, the entities that
 * reference others first, so a child goes before its parent. A crash in between leaves the rows
 * `deleting`, and the next run deletes them.
 */

/** Whether an entity deletes the items of records its source marks deleted. */
export const deletes = (entity: Pipeline.AnyEntity): boolean => entity.deleted?.policy === "delete"

/** Records a chunk's items to delete: `deleting` in the id map, or in memory for a dry run. */
export const markForDeletion = (
  ctx: RunContext,
  er: EntityRun,
  items: ReadonlyArray<Update>,
): Effect.Effect<void, StateStoreError> => {
  if (items.length === 0) return Effect.void
  if (ctx.dryRun) {
    const list = ctx.dryRunDeletes.get(er.name) ?? []
    for (const d of items) list.push({ sourceKey: d.record.key, targetId: d.targetId })
    ctx.dryRunDeletes.set(er.name, list)
    return Effect.void
  }
  return commit(ctx, er.name, {
    created: [],
    deleting: items.map((d) => ({ sourceKey: d.record.key, payloadHash: d.record.hash })),
  })
}

/** What deleting one entity's items did. */
export interface Deleted {
  readonly deleted: number
  readonly failed: number
}

/** One batch of one entity: deleted in the target, then `deleted` in the id map or a dead letter. */
const deleteBatch = (
  ctx: RunContext,
  entity: string,
  target: Sink.Target,
  batch: ReadonlyArray<Sink.SinkDelete>,
  remove: NonNullable<Sink.Connection["delete"]>,
): Effect.Effect<Deleted, Sink.SinkError | StateStoreError> =>
  Effect.gen(function* () {
    const results = yield* ctx.call(remove(target, batch))
    const done: Array<string> = []
    const letters: Array<DeadLetterInput> = []
    batch.forEach((item, i) => {
      const r = results[i]
      if (r?._tag === "Written") done.push(item.sourceKey)
      else
        letters.push({
          entity,
          sourceKey: item.sourceKey,
          stage: "delete",
          code: r?.code ?? "NO_RESULT",
          message:
            r === undefined
              ? `the target answered no result for the deletion of item ${item.targetId}`
              : `deleting item ${item.targetId}: ${r.field ? `${r.field}: ` : ""}${r.message}`,
          payload: { targetId: item.targetId },
        })
    })
    yield* commit(ctx, entity, { created: [], deleted: done, deadLetters: letters, recovered: done })
    return { deleted: done.length, failed: letters.length }
  })

/**
 * Deletes the items marked `deleting` of these entities (this run's and any an interrupted run
 * left), the last entity of the write order first, so dependants go before what they reference.
 * A dry run sends nothing and counts what it would delete. Answers the counts per entity.
 */
export const deleteMarked = (
  ctx: RunContext,
  order: ReadonlyArray<string>,
): Effect.Effect<ReadonlyMap<string, Deleted>, Sink.SinkError | StateStoreError> =>
  Effect.gen(function* () {
    const counts = new Map<string, Deleted>()
    for (const name of [...order].reverse()) {
      const entity = ctx.pipeline.entities[name]!
      if (!deletes(entity)) continue
      if (ctx.dryRun) {
        const n = ctx.dryRunDeletes.get(name)?.length ?? 0
        if (n > 0) counts.set(name, { deleted: n, failed: 0 })
        continue
      }
      const rows = yield* ctx.store.deleting(ctx.pipeline.name, name)
      if (rows.length === 0) continue
      const remove = ctx.sink.delete
      if (remove === undefined) continue // refused before the run started (`cannotDelete`)
      yield* ctx.progress.note(`${name}: deleting ${rows.length} items the source marks deleted`)
      const items = rows.flatMap((r) =>
        r.targetId === null ? [] : [{ sourceKey: r.sourceKey, targetId: r.targetId }],
      )
      const results = yield* Effect.forEach(
        chunked(items, ctx.sink.updateBatchSize),
        (batch) => deleteBatch(ctx, name, entity.to, batch, remove),
        { concurrency: "unbounded" },
      )
      counts.set(name, {
        deleted: results.reduce((n, r) => n + r.deleted, 0),
        failed: results.reduce((n, r) => n + r.failed, 0),
      })
    }
    return counts
  })

/** The entities whose `delete` policy the sink cannot apply (it has no `delete`). */
export const cannotDelete = (
  pipeline: Pipeline.Pipeline,
  entities: ReadonlyArray<string>,
  sink: Sink.Connection,
): ReadonlyArray<string> =>
  sink.delete === undefined ? entities.filter((name) => deletes(pipeline.entities[name]!)) : []
