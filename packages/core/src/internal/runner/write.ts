import { Effect } from "effect"
import { toJson } from "../../Json.js"
import type * as Sink from "../../Sink.js"
import type { DeadLetterInput, StateStoreError } from "../../StateStore.js"
import { commitBatch, type Written } from "./commit.js"
import { type EntityRun, originId, type RunContext, recordKey } from "./context.js"
import type { Prepared } from "./prepare.js"
import type { CreateItem, UpdateItem } from "./resolve.js"

// The sink retries limits and transient errors itself; these attempts cover what it gave up on.
const MAX_WRITE_ATTEMPTS = 5

/** Splits items into batches of at most `size`. */
export const chunked = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** The dead letter of a record the target refused (or answered nothing for). */
const rejection = (
  entity: string,
  p: Prepared,
  stage: "write" | "update",
  result: Sink.ItemResult | undefined,
): DeadLetterInput =>
  result?._tag === "Rejected"
    ? {
        entity,
        sourceKey: p.key,
        stage,
        code: result.code,
        message: `${result.field ? `${result.field}: ` : ""}${result.message}`,
        payload: toJson(p.data),
      }
    : {
        entity,
        sourceKey: p.key,
        stage,
        code: "NO_RESULT",
        message: "the target answered no result for this item",
        payload: toJson(p.data),
      }

/**
 * Sends a batch of creates; when the call failed in a way that may have created items, finds
 * them first and sends only the rest again.
 */
const createWithRecovery = (ctx: RunContext, er: EntityRun, items: ReadonlyArray<Sink.SinkItem>) =>
  Effect.gen(function* () {
    const results: Array<Sink.ItemResult | undefined> = items.map(() => undefined)
    let remaining = items.map((item, index) => ({ item, index }))
    for (let attempt = 1; ; attempt++) {
      const answer = yield* Effect.either(
        ctx.call(
          ctx.sink.create(
            er.target,
            remaining.map((r) => r.item),
          ),
        ),
      )
      if (answer._tag === "Right") {
        remaining.forEach((r, i) => {
          results[r.index] = answer.right[i]
        })
        return results
      }
      const error = answer.left
      if (error.reason === "fatal" || attempt >= MAX_WRITE_ATTEMPTS) return yield* Effect.fail(error)
      yield* ctx.progress.note(`${er.name}: ${error.message}; checking what was created before sending again`)
      const found = yield* ctx.call(
        ctx.sink.find(
          er.target,
          remaining.map((r) => r.item),
        ),
      )
      remaining = remaining.filter((r) => {
        const id = found.get(r.item.originId)
        if (id !== undefined) results[r.index] = { _tag: "Written", targetId: id }
        return id === undefined
      })
      if (remaining.length === 0) return results
    }
  })

/**
 * One batch of creates: marked `pending` in the id map before it is sent, so a crash mid-call
 * is found in the target by the next run instead of being created again; then committed.
 */
const sendCreates = (ctx: RunContext, er: EntityRun, batch: ReadonlyArray<CreateItem>) =>
  Effect.gen(function* () {
    const batchId = ctx.nextBatchId(er.name)
    if (!ctx.dryRun) {
      yield* ctx.store.markPending(
        ctx.pipeline.name,
        er.name,
        batchId,
        batch.map((b) => ({
          sourceKey: b.record.key,
          targetType: er.target.name,
          payloadHash: b.hash,
        })),
      )
    }
    const results = yield* createWithRecovery(
      ctx,
      er,
      batch.map((b) => ({
        sourceKey: b.record.key,
        originId: originId(er.name, b.record.key),
        fields: b.fields,
      })),
    )
    const written: Array<Written> = []
    const rejected: Array<DeadLetterInput> = []
    batch.forEach((b, i) => {
      const r = results[i]
      if (r === undefined || r._tag === "Rejected") {
        rejected.push(rejection(er.name, b.record, "write", r))
        return
      }
      written.push({
        sourceKey: b.record.key,
        targetType: er.target.name,
        targetId: r.targetId,
        payloadHash: b.hash,
        batchId,
      })
      if (ctx.dryRun) ctx.dryRunIds.set(recordKey(er.name, b.record.key), r.targetId)
      if (Object.keys(b.record.deferred).length > 0) {
        ctx.deferredLinks.push({
          entity: er.name,
          target: er.target,
          sourceKey: b.record.key,
          targetId: r.targetId,
          fields: b.record.deferred,
          linked: { ...b.record.fields, ...b.record.deferred },
          hash: b.record.hash,
        })
      }
    })
    yield* commitBatch(ctx, er, {
      written,
      released: rejected.map((r) => r.sourceKey),
      deadLetters: rejected,
    })
    yield* er.bump({ created: written.length, failed: rejected.length })
  })

/** One batch of updates of records the target has, then committed with their new hashes. */
const sendUpdates = (ctx: RunContext, er: EntityRun, batch: ReadonlyArray<UpdateItem>) =>
  Effect.gen(function* () {
    const results = yield* ctx.call(
      ctx.sink.update(
        er.target,
        batch.map((b) => ({ sourceKey: b.record.key, targetId: b.targetId, fields: b.fields })),
      ),
    )
    const written: Array<Written> = []
    const rejected: Array<DeadLetterInput> = []
    batch.forEach((b, i) => {
      const r = results[i]
      if (r === undefined || r._tag === "Rejected") rejected.push(rejection(er.name, b.record, "update", r))
      else
        written.push({
          sourceKey: b.record.key,
          targetType: er.target.name,
          targetId: b.targetId,
          payloadHash: b.hash,
          batchId: null,
        })
    })
    yield* commitBatch(ctx, er, { written, deadLetters: rejected })
    yield* er.bump({ updated: written.length, failed: rejected.length })
  })

/** A batch the stop kept back: its records are read again by the next run, so this one does not count them as read. */
const unlessUnsent = <E, R>(er: EntityRun, records: number, send: Effect.Effect<boolean, E, R>) =>
  Effect.tap(send, (sent) => (sent ? Effect.void : er.bump({ read: -records })))

/**
 * Sends a chunk's creates and updates in the sink's batch sizes, at most the sink's `concurrency`
 * at a time, and commits each batch as it completes. An entity created `inOrder` sends its creates
 * one batch at a time. Answers whether every batch was sent: once a stop is requested, batches
 * not yet started are not sent (their records stay unread: the checkpoint does not pass them).
 */
export const writeChunk = (
  ctx: RunContext,
  er: EntityRun,
  creates: ReadonlyArray<CreateItem>,
  updates: ReadonlyArray<UpdateItem>,
): Effect.Effect<boolean, Sink.SinkError | StateStoreError> =>
  Effect.all(
    [
      Effect.forEach(
        chunked(creates, ctx.sink.batchSize),
        (b) => unlessUnsent(er, b.length, ctx.sendBatch(b.length, sendCreates(ctx, er, b))),
        { concurrency: er.entity.inOrder === true ? 1 : "unbounded" },
      ),
      Effect.forEach(
        chunked(updates, ctx.sink.updateBatchSize),
        (b) => unlessUnsent(er, b.length, ctx.sendBatch(b.length, sendUpdates(ctx, er, b))),
        { concurrency: "unbounded" },
      ),
    ],
    { concurrency: "unbounded" },
  ).pipe(Effect.map(([c, u]) => c.every((sent) => sent) && u.every((sent) => sent)))
