import { Effect } from "effect"
import { toJson } from "../../Json.js"
import * as Reference from "../../Reference.js"
import type * as Sink from "../../Sink.js"
import type { DeadLetterInput, StateStoreError } from "../../StateStore.js"
import { commit } from "./commit.js"
import type { RunContext } from "./context.js"
import { idOf, lookupReferenced, UNRESOLVED } from "./resolve.js"
import { chunked } from "./write.js"
import { writtenHash } from "./writtenHash.js"

/** A link still to be made once every entity exists: the fields held back to break a reference cycle. */
export interface DeferredLink {
  readonly entity: string
  readonly target: Sink.Target
  readonly sourceKey: string
  readonly targetId: string
  readonly fields: Readonly<Record<string, unknown>>
  /** All the record's fields, references unresolved: the links its id-map hash covers once linked. */
  readonly linked: Readonly<Record<string, unknown>>
  /** The record's content hash once linked. */
  readonly hash: string
}

/** Links one batch of one entity: resolves the held-back fields, updates, commits. */
const linkBatch = (ctx: RunContext, entity: string, batch: ReadonlyArray<DeferredLink>) =>
  Effect.gen(function* () {
    const lookup = idOf(
      yield* lookupReferenced(
        ctx,
        batch.map((l) => l.linked),
      ),
      ctx.dryRunIds,
    )
    const resolved = batch.map((l) => ({ l, ...Reference.resolve(l.fields, lookup) }))
    const ready = resolved.filter((r) => r.unresolved.length === 0)
    const results =
      ready.length === 0
        ? []
        : yield* ctx.call(
            ctx.sink.update(
              batch[0]!.target,
              ready.map((r) => ({ sourceKey: r.l.sourceKey, targetId: r.l.targetId, fields: r.fields })),
            ),
          )
    const letter = (l: DeferredLink, code: string, message: string): DeadLetterInput => ({
      entity,
      sourceKey: l.sourceKey,
      stage: "link",
      code,
      message,
      payload: toJson(l.fields),
    })
    yield* commit(ctx, entity, {
      created: ready
        .filter((_, i) => results[i]?._tag === "Written")
        .map((r) => ({
          sourceKey: r.l.sourceKey,
          targetType: r.l.target.name,
          targetId: r.l.targetId,
          payloadHash: writtenHash(r.l.hash, r.l.linked, lookup) ?? r.l.hash,
          batchId: null,
        })),
      deadLetters: [
        ...resolved
          .filter((r) => r.unresolved.length > 0)
          .map((r) =>
            letter(
              r.l,
              UNRESOLVED,
              r.unresolved.map((u) => `${u.field} -> ${u.entity} ${u.key} is not in the target`).join("; "),
            ),
          ),
        ...ready.flatMap((r, i) => {
          const res = results[i]
          return res?._tag === "Rejected" ? [letter(r.l, res.code, res.message)] : []
        }),
      ],
    })
  })

/** Makes the links held back to break reference cycles, now that both sides exist. */
export const linkDeferred = (ctx: RunContext): Effect.Effect<void, Sink.SinkError | StateStoreError> =>
  Effect.gen(function* () {
    if (ctx.deferredLinks.length === 0) return
    yield* ctx.progress.note(`linking ${ctx.deferredLinks.length} records whose references closed a cycle`)
    const byEntity = new Map<string, Array<DeferredLink>>()
    for (const l of ctx.deferredLinks) byEntity.set(l.entity, [...(byEntity.get(l.entity) ?? []), l])
    for (const [entity, links] of byEntity)
      for (const batch of chunked(links, ctx.sink.updateBatchSize)) yield* linkBatch(ctx, entity, batch)
  })
