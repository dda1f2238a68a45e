import { Effect } from "effect"
import type { DeadLetterInput, IdMapEntry, StateStoreError } from "../../StateStore.js"
import { type EntityRun, type RunContext, recordKey } from "./context.js"
import type { Outcome, Prepared } from "./prepare.js"

/** A record in the target whose content changed: it is updated there. */
export interface Update {
  readonly record: Prepared
  readonly targetId: string
}

/** A chunk's records, sorted by what the run does with each. */
export interface Classified {
  /** Records that could not be prepared (decode, steps, map): their dead letters. */
  readonly failed: ReadonlyArray<DeadLetterInput>
  /** Not in the target yet: created. */
  readonly creates: ReadonlyArray<Prepared>
  /** In the target with other content, or deleted in the source under an `update` policy: updated. */
  readonly updates: ReadonlyArray<Update>
  /** In the target with the same content (or deleted in the source, already handled): nothing to write. */
  readonly unchanged: ReadonlyArray<Prepared>
  /** Keys a step of the entity filtered out. */
  readonly filtered: ReadonlyArray<string>
  /** Keys deleted in the source and not in the target (or deleted there already): never created. */
  readonly deleted: ReadonlyArray<string>
  /** In the target and deleted in the source under a `delete` policy: deleted at the end of the run. */
  readonly deletes: ReadonlyArray<Update>
}

/** Each prepared record of a chunk once: the same key twice would be created twice, so the last wins, like an upsert. */
const unique = (outcomes: ReadonlyArray<Outcome>): ReadonlyArray<Prepared> => {
  const byKey = new Map<string, Prepared>()
  for (const o of outcomes) if (o._tag === "Prepared") byKey.set(o.key, o)
  return [...byKey.values()]
}

/**
 * Sorts a chunk against its id-map rows (`existing`, by source key): a record with no `created`
 * row is created, one whose hash differs is updated, one whose hash is the same is unchanged. A
 * record deleted in the source is never created; an existing item gets the policy's update once,
 * or under a `delete` policy is deleted. An item still to be deleted (`deleting`) exists: a record
 * the source brought back before the deletion is updated instead; one already `deleted` is created
 * again.
 */
export const classify = (
  outcomes: ReadonlyArray<Outcome>,
  existing: ReadonlyMap<string, IdMapEntry>,
): Classified => {
  const failed: Array<DeadLetterInput> = []
  const filtered: Array<string> = []
  for (const o of outcomes) {
    if (o._tag === "Failed") failed.push(o.deadLetter)
    else if (o._tag === "Skipped") filtered.push(o.key)
  }
  const creates: Array<Prepared> = []
  const updates: Array<Update> = []
  const unchanged: Array<Prepared> = []
  const deleted: Array<string> = []
  const deletes: Array<Update> = []
  for (const p of unique(outcomes)) {
    const row = existing.get(p.key)
    const exists = (row?.status === "created" || row?.status === "deleting") && row.targetId !== null
    if (p.deleted === "delete") {
      if (row?.status === "created" && row.targetId !== null)
        deletes.push({ record: p, targetId: row.targetId })
      else deleted.push(p.key)
    } else if (p.deleted !== false) {
      if (exists && p.deleted === "update" && row.payloadHash !== p.hash)
        updates.push({ record: p, targetId: row.targetId! })
      else if (exists) unchanged.push(p)
      else deleted.push(p.key)
    } else if (exists) {
      if (row.payloadHash === p.hash) unchanged.push(p)
      else updates.push({ record: p, targetId: row.targetId! })
    } else creates.push(p)
  }
  return { failed, creates, updates, unchanged, filtered, deleted, deletes }
}

/**
 * Classifies a chunk with one id-map lookup, and notes the records left out on purpose so a
 * dependant's dead letter can say why its link is missing.
 */
export const classifyChunk = (
  ctx: RunContext,
  er: EntityRun,
  outcomes: ReadonlyArray<Outcome>,
): Effect.Effect<Classified, StateStoreError> =>
  Effect.gen(function* () {
    const existing = yield* ctx.store.lookup(
      ctx.pipeline.name,
      er.name,
      unique(outcomes).map((p) => p.key),
    )
    const classified = classify(outcomes, existing)
    for (const key of classified.filtered) ctx.skipped.set(recordKey(er.name, key), "filtered")
    for (const key of classified.deleted) ctx.skipped.set(recordKey(er.name, key), "deleted")
    for (const d of classified.deletes) ctx.skipped.set(recordKey(er.name, d.record.key), "deleted")
    return classified
  })
