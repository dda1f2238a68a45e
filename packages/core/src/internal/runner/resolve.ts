import { Effect } from "effect"
import { toJson } from "../../Json.js"
import * as Reference from "../../Reference.js"
import type { DeadLetter, DeadLetterInput, StateStore, StateStoreError } from "../../StateStore.js"
import type { Classified } from "./classify.js"
import { type EntityRun, type RunContext, recordKey } from "./context.js"
import type { Prepared } from "./prepare.js"
import { keyProblem, storableKey } from "./storable.js"
import { writtenHash } from "./writtenHash.js"

/** The dead letters' code for a record whose reference has no id in the target. */
export const UNRESOLVED = "UNRESOLVED_REFERENCE"

/** What the id map knows of referenced records, by `recordKey`. */
export interface Known {
  /** Target ids of the records created. */
  readonly ids: ReadonlyMap<string, string>
  /** Records an interrupted run left pending. */
  readonly pending: ReadonlySet<string>
}

/** A reference that could not be replaced by an id, with the field that holds it. */
export type Unresolved = Reference.Reference & { readonly field: string }

/** A create whose references are all replaced by ids: ready to send. */
export interface CreateItem {
  readonly record: Prepared
  readonly fields: Record<string, unknown>
  /** The id map's hash once created: the content as created and the ids it links (`writtenHash.ts`). */
  readonly hash: string
}

/** An update whose references are all replaced by ids: ready to send. */
export interface UpdateItem {
  readonly record: Prepared
  readonly targetId: string
  readonly fields: Record<string, unknown>
  /** The id map's hash once updated: all the content and the ids it links (`writtenHash.ts`). */
  readonly hash: string
}

export interface Resolved {
  readonly creates: ReadonlyArray<CreateItem>
  readonly updates: ReadonlyArray<UpdateItem>
  /** Records with a reference that has no id: they go to the dead letters, not to the target. */
  readonly unresolved: ReadonlyArray<{
    readonly record: Prepared
    readonly references: ReadonlyArray<Unresolved>
  }>
}

/** References grouped by entity, each key once: what one lookup asks for. */
export const byEntity = (
  references: Iterable<Reference.Reference>,
): ReadonlyArray<{ readonly entity: string; readonly keys: ReadonlyArray<string> }> => {
  const wanted = new Map<string, Set<string>>()
  for (const r of references) {
    if (!wanted.has(r.entity)) wanted.set(r.entity, new Set())
    wanted.get(r.entity)!.add(r.key)
  }
  return [...wanted].map(([entity, keys]) => ({ entity, keys: [...keys] }))
}

/**
 * What the id map knows of the records these fields refer to, in one query (none when there are
 * no references), with the keys of those deleted (or being deleted) under a `delete` policy.
 */
export const lookupKnown = (
  store: StateStore,
  pipeline: string,
  fieldsOfRecords: ReadonlyArray<Readonly<Record<string, unknown>>>,
): Effect.Effect<Known & { readonly deleted: ReadonlyArray<string> }, StateStoreError> =>
  Effect.gen(function* () {
    const ids = new Map<string, string>()
    const pending = new Set<string>()
    const deleted: Array<string> = []
    // A key the id map cannot hold (too long, NUL) is in no row: asking would only fail the query.
    const wanted = byEntity(
      fieldsOfRecords
        .flatMap((fields) => Reference.collect(fields))
        .filter((r) => keyProblem(r.key) === undefined),
    )
    if (wanted.length === 0) return { ids, pending, deleted }
    for (const row of yield* store.lookupMany(pipeline, wanted))
      if (row.status === "created" && row.targetId !== null)
        ids.set(recordKey(row.entity, row.sourceKey), row.targetId)
      else if (row.status === "pending") pending.add(recordKey(row.entity, row.sourceKey))
      else if (row.status === "deleting" || row.status === "deleted")
        deleted.push(recordKey(row.entity, row.sourceKey))
    return { ids, pending, deleted }
  })

/** Looks up the records these fields refer to, in one query (none when there are no references). */
export const lookupReferenced = (
  ctx: RunContext,
  fieldsOfRecords: ReadonlyArray<Readonly<Record<string, unknown>>>,
): Effect.Effect<Known, StateStoreError> =>
  Effect.map(lookupKnown(ctx.store, ctx.pipeline.name, fieldsOfRecords), ({ ids, pending, deleted }) => {
    // Deleted (or being deleted) under a `delete` policy: explained like a record never created.
    for (const key of deleted) ctx.skipped.set(key, "deleted")
    return { ids, pending }
  })

/** The target id of a reference: from the id map, or made earlier in this dry run. */
export const idOf =
  (known: Known, dryRunIds: ReadonlyMap<string, string>) =>
  (r: Reference.Reference): string | undefined =>
    known.ids.get(recordKey(r.entity, r.key)) ?? dryRunIds.get(recordKey(r.entity, r.key))

/**
 * Replaces the references of a chunk's creates and updates by target ids. A create is sent
 * without its deferred fields (they close a cycle and are linked afterwards); an update carries
 * them, as both sides exist by then.
 */
export const resolve = (
  classified: Pick<Classified, "creates" | "updates">,
  lookup: (reference: Reference.Reference) => string | undefined,
): Resolved => {
  const creates: Array<CreateItem> = []
  const updates: Array<UpdateItem> = []
  const unresolved: Array<{ record: Prepared; references: ReadonlyArray<Unresolved> }> = []
  for (const record of classified.creates) {
    const r = Reference.resolve(record.fields, lookup)
    if (r.unresolved.length > 0) unresolved.push({ record, references: r.unresolved })
    else
      creates.push({
        record,
        fields: r.fields,
        hash: writtenHash(record.createHash, record.fields, lookup) ?? record.createHash,
      })
  }
  for (const u of classified.updates) {
    const all = { ...u.record.fields, ...u.record.deferred }
    const r = Reference.resolve(all, lookup)
    if (r.unresolved.length > 0) unresolved.push({ record: u.record, references: r.unresolved })
    else
      updates.push({
        record: u.record,
        targetId: u.targetId,
        fields: r.fields,
        hash: writtenHash(u.record.hash, all, lookup) ?? u.record.hash,
      })
  }
  return { creates, updates, unresolved }
}

/** Whether this run knows anything of why a referenced record has no id (else `whyUnresolved` can only guess). */
const knowsWhy = (
  ref: Reference.Reference,
  parentLetters: ReadonlyMap<string, DeadLetter>,
  pending: ReadonlySet<string>,
  skipped: ReadonlyMap<string, "deleted" | "filtered">,
): boolean => {
  const key = recordKey(ref.entity, ref.key)
  return (
    parentLetters.has(recordKey(ref.entity, storableKey(ref.key))) ||
    pending.has(key) ||
    skipped.has(key) ||
    keyProblem(ref.key) !== undefined
  )
}

/** Why a referenced record has no id in the target, for the dependant's dead letter. */
export const whyUnresolved = (
  ref: Reference.Reference,
  parentLetters: ReadonlyMap<string, DeadLetter>,
  pending: ReadonlySet<string>,
  skipped: ReadonlyMap<string, "deleted" | "filtered">,
): string => {
  const key = recordKey(ref.entity, ref.key)
  // The parent's dead letter is filed under a key the store can keep.
  const letter = parentLetters.get(recordKey(ref.entity, storableKey(ref.key)))
  if (letter !== undefined) {
    const message = letter.message.length > 200 ? `${letter.message.slice(0, 200)}…` : letter.message
    return `that record failed (stage ${letter.stage}, ${letter.code}: ${message})`
  }
  if (pending.has(key))
    return "an interrupted run left that record pending; the next run of its entity checks the target for it"
  switch (skipped.get(key)) {
    case "deleted":
      return "that record is deleted in the source, so it was not created (its entity's deleted rule)"
    case "filtered":
      return "a step of its entity filtered that record out"
  }
  const badKey = keyProblem(ref.key)
  if (badKey !== undefined) return `that record cannot be in the id map: ${badKey.message}`
  return "that record was never written: the source has no such record, or an earlier run skipped it, or its entity has not run yet"
}

/**
 * The dead letters of records with unresolved references, each saying why per reference: the
 * parent's own dead letter is the usual answer, found with one lookup. When this run knows
 * nothing of any of its references (a retry does not read the parents), a record whose dead
 * letter already says why keeps that reason.
 */
export const explainUnresolved = (
  ctx: RunContext,
  entity: string,
  unresolved: Resolved["unresolved"],
  pending: ReadonlySet<string>,
): Effect.Effect<ReadonlyArray<DeadLetterInput>, StateStoreError> =>
  Effect.gen(function* () {
    if (unresolved.length === 0) return []
    const letters = yield* ctx.store.lookupDeadLetters(
      ctx.pipeline.name,
      byEntity(unresolved.flatMap((u) => u.references).map((r) => ({ ...r, key: storableKey(r.key) }))),
    )
    const parentLetters = new Map(letters.map((d) => [recordKey(d.entity, d.sourceKey), d]))
    return unresolved.map((u) => {
      const before = ctx.letters.get(recordKey(entity, storableKey(u.record.key)))
      const keep =
        before?.code === UNRESOLVED &&
        !u.references.some((r) => knowsWhy(r, parentLetters, pending, ctx.skipped))
      return {
        entity,
        sourceKey: u.record.key,
        stage: "reference",
        code: UNRESOLVED,
        message: keep
          ? before.message
          : u.references
              .map(
                (r) =>
                  `${r.field} -> ${r.entity} ${r.key}: ${whyUnresolved(r, parentLetters, pending, ctx.skipped)}`,
              )
              .join("; "),
        payload: toJson(u.record.data),
      }
    })
  })

/**
 * Resolves a chunk's references with one id-map lookup; the records that cannot be resolved
 * come back as dead letters.
 */
export const resolveChunk = (
  ctx: RunContext,
  er: EntityRun,
  classified: Classified,
): Effect.Effect<
  Pick<Resolved, "creates" | "updates"> & { readonly deadLetters: ReadonlyArray<DeadLetterInput> },
  StateStoreError
> =>
  Effect.gen(function* () {
    const known = yield* lookupReferenced(ctx, [
      ...classified.creates.map((p) => ({ ...p.fields, ...p.deferred })),
      ...classified.updates.map((u) => ({ ...u.record.fields, ...u.record.deferred })),
    ])
    const resolved = resolve(classified, idOf(known, ctx.dryRunIds))
    const deadLetters = yield* explainUnresolved(ctx, er.name, resolved.unresolved, known.pending)
    return { creates: resolved.creates, updates: resolved.updates, deadLetters }
  })
