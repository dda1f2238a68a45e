import { Effect } from "effect"
import type * as Sink from "../../Sink.js"
import type { StateStoreError } from "../../StateStore.js"
import { commit } from "./commit.js"
import { type EntityRun, originId, type RunContext } from "./context.js"

/**
 * Finds what an interrupted run may have created before anything is sent again: each record it
 * left `pending` is looked for in the target by its origin id. Found, it is committed with its
 * id; not found, its pending row is released and the record is created as usual.
 */
export const reconcilePending = (
  ctx: RunContext,
  er: Pick<EntityRun, "name" | "target">,
): Effect.Effect<void, Sink.SinkError | StateStoreError> =>
  Effect.gen(function* () {
    const pending = yield* ctx.store.pending(ctx.pipeline.name, er.name)
    if (pending.length === 0) return
    yield* ctx.progress.note(`${er.name}: checking ${pending.length} records an earlier run left unconfirmed`)
    const step = ctx.sink.batchSize * 5
    for (let i = 0; i < pending.length; i += step) {
      const slice = pending.slice(i, i + step)
      const found = yield* ctx.call(
        ctx.sink.find(
          er.target,
          slice.map((p) => ({
            sourceKey: p.sourceKey,
            originId: originId(er.name, p.sourceKey),
            fields: {},
          })),
        ),
      )
      const created = slice.flatMap((p) => {
        const id = found.get(originId(er.name, p.sourceKey))
        return id === undefined
          ? []
          : [
              {
                sourceKey: p.sourceKey,
                targetType: p.targetType,
                targetId: id,
                payloadHash: p.payloadHash,
                batchId: p.batchId,
              },
            ]
      })
      const released = slice.filter((p) => !found.has(originId(er.name, p.sourceKey))).map((p) => p.sourceKey)
      yield* commit(ctx, er.name, { created, released })
    }
  })
