import { Effect } from "effect"
import type * as Reference from "../../Reference.js"
import type { DeadLetterInput, IdMapEntry, StateStoreError } from "../../StateStore.js"
import { type EntityRun, type RunContext, recordKey } from "./context.js"
import type { Outcome, Prepared } from "./prepare.js"
import { idOf, lookupReferenced } from "./resolve.js"
import { contentHash, isUnchanged } from "./writtenHash.js"

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
 * row is created, one whose hash differs is updated, one whose hash is the same is unchanged. The
 * hash kept covers the target ids its references resolved to (`writtenHash.ts`): `lookup`
 * answers them today, so a record whose parent has a new id is updated. A
 * record deleted in the source is never created; an existing item gets the policy's update once,
 * or under a `delete` policy is deleted. An item still to be deleted (`deleting`) exists: a record
 * the source brought back before the deletion is updated instead; one already `deleted` is created
 * again.
 */
export const classify = (
  outcomes: ReadonlyArray<Outcome>,
  existing: ReadonlyMap<string, IdMapEntry>,
  lookup: (reference: Reference.Reference) => string | undefined = () => undefined,
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
  const same = (row: IdMapEntry, p: Prepared) =>
    isUnchanged(row.payloadHash, p.hash, { ...p.fields, ...p.deferred }, lookup)
  for (const p of unique(outcomes)) {
    const row = existing.get(p.key)
    const exists = (row?.status === "created" || row?.status === "deleting") && row.targetId !== null
    if (p.deleted === "delete") {
      if (row?.status === "created" && row.targetId !== null)
        deletes.push({ record: p, targetId: row.targetId })
      else deleted.push(p.key)
    } else if (p.deleted !== false) {
      if (exists && p.deleted === "update" && !same(row, p))
        updates.push({ record: p, targetId: row.targetId! })
      else if (exists) unchanged.push(p)
      else deleted.push(p.key)
    } else if (exists) {
      if (same(row, p)) unchanged.push(p)
      else updates.push({ record: p, targetId: row.targetId! })
    } else creates.push(p)
  }
  return { failed, creates, updates, unchanged, filtered, deleted, deletes }
}

/**
 * The fields of a chunk's records that exist with the same content and links kept in their
 * hash: looking up their references' ids today tells whether their links changed.
 */
export const linkedFields = (
  outcomes: ReadonlyArray<Outcome>,
  existing: ReadonlyMap<string, IdMapEntry>,
): ReadonlyArray<Readonly<Record<string, unknown>>> =>
  unique(outcomes).flatMap((p) => {
    const row = existing.get(p.key)
    return row !== undefined && row.payloadHash !== p.hash && contentHash(row.payloadHash) === p.hash
      ? [{ ...p.fields, ...p.deferred }]
      : []
  })

/**
 * Classifies a chunk with one id-map lookup (and one of the ids its unchanged records link), and
 * notes the records left out on purpose so a dependant's dead letter can say why its link is missing.
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
    const links = yield* lookupReferenced(ctx, linkedFields(outcomes, existing))
    const classified = classify(outcomes, existing, idOf(links, ctx.dryRunIds))
    for (const key of classified.filtered) ctx.skipped.set(recordKey(er.name, key), "filtered")
    for (const key of classified.deleted) ctx.skipped.set(recordKey(er.name, key), "deleted")
    for (const d of classified.deletes) ctx.skipped.set(recordKey(er.name, d.record.key), "deleted")
    return classified
  })
