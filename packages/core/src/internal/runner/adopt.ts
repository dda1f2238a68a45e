import { Chunk, Effect, Option, Stream } from "effect"
import type * as Sink from "../../Sink.js"
import type { DeadLetterInput, StateStore, StateStoreError } from "../../StateStore.js"
import type { RunContext } from "./context.js"

/**
 * Adoption: the items a pipeline owns in the target (they carry its originator) taken into the
 * id map as `created`, so records the id map forgot (a reset, a lost state directory, an earlier
 * import) are updated instead of created twice. `relink` adopts on demand; a run adopts by itself
 * when an entity's id map is empty and the target holds items of the pipeline.
 */

/**
 * The payload hash of an adopted row: no record hashes to it, so the next run sends each
 * adopted record once as an update (the item's content in the target is not known).
 */
export const adoptedHash = ""

/** The items of one entity found in the target, by legacy key. */
export interface Owned {
  /** Keys with exactly one item: key -> target id. */
  readonly items: ReadonlyMap<string, string>
  /** Keys with more than one item (never one picked silently): key -> every target id, lowest first. */
  readonly duplicates: ReadonlyMap<string, ReadonlyArray<string>>
}

const byId = (a: string, b: string) => {
  const x = Number(a)
  const y = Number(b)
  return Number.isFinite(x) && Number.isFinite(y) ? x - y : a < b ? -1 : a > b ? 1 : 0
}

/** Sorts a target's owned items by entity (only these `entities`, whose records go to that target). */
export const groupOwned = (
  items: Iterable<Sink.OwnedItem>,
  entities: ReadonlyArray<string>,
): ReadonlyMap<string, Owned> => {
  const ids = new Map<string, Map<string, Array<string>>>(entities.map((e) => [e, new Map()]))
  for (const item of items) {
    // Entity names never hold ":", so the first one ends the entity (keys may hold it).
    const at = item.originId.indexOf(":")
    if (at <= 0) continue
    const byKey = ids.get(item.originId.slice(0, at))
    if (byKey === undefined) continue
    const key = item.originId.slice(at + 1)
    const list = byKey.get(key)
    if (list === undefined) byKey.set(key, [item.targetId])
    else if (!list.includes(item.targetId)) list.push(item.targetId)
  }
  const out = new Map<string, Owned>()
  for (const [entity, byKey] of ids) {
    const single = new Map<string, string>()
    const duplicates = new Map<string, ReadonlyArray<string>>()
    for (const [key, list] of byKey) {
      if (list.length === 1) single.set(key, list[0]!)
      else duplicates.set(key, [...list].sort(byId))
    }
    out.set(entity, { items: single, duplicates })
  }
  return out
}

/** Every item the connection's originator owns in `target`, grouped by these entities. */
export const listOwned = (
  sink: Sink.Connection,
  target: Sink.Target,
  entities: ReadonlyArray<string>,
): Effect.Effect<ReadonlyMap<string, Owned>, Sink.SinkError> =>
  sink.listOwned === undefined
    ? Effect.succeed(groupOwned([], entities))
    : Effect.map(Stream.runCollect(sink.listOwned(target)), (items) =>
        groupOwned(Chunk.toReadonlyArray(items), entities),
      )

/** Writes adopted items to the id map as `created`, in slices of one transaction each. */
export const writeAdopted = (
  store: StateStore,
  pipeline: string,
  entity: string,
  targetType: string,
  items: ReadonlyMap<string, string>,
): Effect.Effect<void, StateStoreError> =>
  Effect.gen(function* () {
    const rows = [...items].map(([sourceKey, targetId]) => ({
      sourceKey,
      targetType,
      targetId,
      payloadHash: adoptedHash,
      batchId: null,
    }))
    for (let i = 0; i < rows.length; i += 500)
      yield* store.commit({ pipeline, entity, created: rows.slice(i, i + 500) })
  })

/** One line naming the keys found more than once in the target, with their ids. */
export const describeDuplicates = (
  entity: string,
  duplicates: ReadonlyMap<string, ReadonlyArray<string>>,
): string => {
  const shown = [...duplicates].slice(0, 10).map(([key, ids]) => `${entity}:${key} -> ids ${ids.join(", ")}`)
  const more = duplicates.size > shown.length ? ` and ${duplicates.size - shown.length} more` : ""
  return `${shown.join("; ")}${more}`
}

/**
 * The entities with id-map rows when the run started, asked once per run (the entities run one
 * after another, and adopting one does not change whether another has rows).
 */
const withRows = new WeakMap<RunContext, ReadonlySet<string>>()
const entitiesWithRows = (ctx: RunContext): Effect.Effect<ReadonlySet<string>, StateStoreError> => {
  const known = withRows.get(ctx)
  if (known !== undefined) return Effect.succeed(known)
  return Effect.map(ctx.store.idMapCounts(ctx.pipeline.name), (counts) => {
    const entities = new Set(counts.filter((c) => c.count > 0).map((c) => c.entity))
    withRows.set(ctx, entities)
    return entities
  })
}

/** The code of a record that exists more than once in the target: held back, never created again. */
export const duplicateCode = "DUPLICATE_IN_TARGET"

/**
 * The dead letters of records found more than once in the target. They stay until the extra items
 * are deleted and the entity relinked; meanwhile every run holds these records back (`holdBack`),
 * since creating one would make yet another copy and updating one would be a guess.
 */
export const duplicateLetters = (
  pipeline: string,
  entity: string,
  duplicates: ReadonlyMap<string, ReadonlyArray<string>>,
): ReadonlyArray<DeadLetterInput> =>
  [...duplicates].map(([sourceKey, targetIds]) => ({
    entity,
    sourceKey,
    stage: "relink",
    code: duplicateCode,
    message: `${entity}:${sourceKey} exists ${targetIds.length} times in the target (ids ${targetIds.join(", ")}); it is not written until only one is left: delete the extra items, then \`pipeline relink ${pipeline} --entity ${entity}\``,
    payload: { targetIds: [...targetIds] },
  }))

/** Writes adopted items and the dead letters of the records found more than once. */
export const adopt = (
  store: StateStore,
  pipeline: string,
  entity: string,
  targetType: string,
  owned: Owned,
): Effect.Effect<void, StateStoreError> =>
  Effect.gen(function* () {
    yield* writeAdopted(store, pipeline, entity, targetType, owned.items)
    if (owned.duplicates.size > 0)
      yield* store.commit({
        pipeline,
        entity,
        created: [],
        deadLetters: duplicateLetters(pipeline, entity, owned.duplicates),
      })
  })

/** Each entity's records held back in this run (found more than once in the target), read once. */
const heldByRun = new WeakMap<RunContext, Map<string, ReadonlySet<string>>>()

const heldKeys = (ctx: RunContext, entity: string): Effect.Effect<ReadonlySet<string>, StateStoreError> => {
  const byEntity = heldByRun.get(ctx) ?? new Map<string, ReadonlySet<string>>()
  heldByRun.set(ctx, byEntity)
  const known = byEntity.get(entity)
  if (known !== undefined) return Effect.succeed(known)
  return Effect.map(ctx.store.deadLetters(ctx.pipeline.name, { entity, limit: 1_000_000_000 }), (letters) => {
    const keys = new Set(letters.filter((d) => d.code === duplicateCode).map((d) => d.sourceKey))
    byEntity.set(entity, keys)
    return keys
  })
}

/**
 * Takes out of a chunk's creates the records the target holds more than once (their dead
 * letters stay as they are): answers the creates to send and how many were held back.
 */
export const holdBack = <A extends { readonly record: { readonly key: string } }>(
  ctx: RunContext,
  entity: string,
  creates: ReadonlyArray<A>,
): Effect.Effect<{ readonly creates: ReadonlyArray<A>; readonly held: number }, StateStoreError> =>
  creates.length === 0
    ? Effect.succeed({ creates, held: 0 })
    : Effect.map(heldKeys(ctx, entity), (held) => {
        const kept = held.size === 0 ? creates : creates.filter((c) => !held.has(c.record.key))
        return { creates: kept, held: creates.length - kept.length }
      })

/** Whether the target holds any item of the pipeline: the first page's first item (one request). */
const firstOwned = (ctx: RunContext, target: Sink.Target, list: NonNullable<Sink.Connection["listOwned"]>) =>
  ctx.call(Stream.runHead(list(target))).pipe(
    // A target that cannot tell its items apart by originator has nothing to adopt from.
    Effect.catchIf(
      (e) => e.code === "NO_IDENTITY_FIELD",
      () => Effect.succeed(Option.none()),
    ),
  )

/** The answers `askAhead` got, by entity, each taken once by `adoptIfEmpty`. */
const askedAhead = new WeakMap<RunContext, Map<string, Option.Option<Sink.OwnedItem>>>()

/**
 * At the start of a run: for every entity whose id map is empty, whether the target holds items
 * of the pipeline, all asked at once, so the entities do not each wait a round trip when their
 * turn comes. Nothing this run writes changes the answer that matters: an entity's own items are
 * created only in its turn, and items of another entity sharing its target are adopted under
 * that entity (none of them under this one).
 */
export const askAhead = (
  ctx: RunContext,
  entities: ReadonlyArray<{ readonly name: string; readonly target: Sink.Target }>,
): Effect.Effect<void, Sink.SinkError | StateStoreError> =>
  Effect.gen(function* () {
    const list = ctx.sink.listOwned
    // Pending rows may all be released by the entity's reconciliation, leaving its id map empty.
    const counts = yield* ctx.store.idMapCounts(ctx.pipeline.name)
    const settled = new Set(counts.filter((c) => c.count > 0 && c.status !== "pending").map((c) => c.entity))
    const empty = entities.filter((e) => !settled.has(e.name))
    const ready = ctx.sink.readyToCreate
    const [answers] = yield* Effect.all(
      [
        list === undefined
          ? Effect.succeed([])
          : Effect.forEach(
              empty,
              (e) => Effect.map(firstOwned(ctx, e.target, list), (first) => [e.name, first] as const),
              { concurrency: "unbounded" },
            ),
        // An empty id map means creates are coming: the sink gets ready for them meanwhile.
        ready === undefined || ctx.dryRun || empty.length === 0 ? Effect.void : ready(empty[0]!.target),
      ],
      { concurrency: "unbounded" },
    )
    askedAhead.set(ctx, new Map(answers))
  })

/**
 * Before an entity's first create, when its id map holds no row at all: asks the target for the
 * first page of the pipeline's items there (one request, or the answer `askAhead` got), and when
 * there are any, adopts the entity's (the relink of that entity); records the target holds more than once become dead
 * letters and are held back. Answers how many items were adopted. Not in a dry run, which
 * changes no state: it only says what a real run would do.
 */
export const adoptIfEmpty = (
  ctx: RunContext,
  entity: { readonly name: string; readonly target: Sink.Target },
): Effect.Effect<number, Sink.SinkError | StateStoreError> =>
  Effect.gen(function* () {
    const list = ctx.sink.listOwned
    if (list === undefined) return 0
    if ((yield* entitiesWithRows(ctx)).has(entity.name)) return 0
    const ahead = askedAhead.get(ctx)
    const asked = ahead?.get(entity.name)
    ahead?.delete(entity.name)
    const first = asked ?? (yield* firstOwned(ctx, entity.target, list))
    if (Option.isNone(first)) return 0
    if (ctx.dryRun) {
      yield* ctx.progress.note(
        `${entity.name}: its id map is empty but the target holds items of this pipeline; a real run adopts them before creating anything`,
      )
      return 0
    }
    const owned = (yield* listOwned(ctx.sink, entity.target, [entity.name])).get(entity.name)!
    yield* adopt(ctx.store, ctx.pipeline.name, entity.name, entity.target.name, owned)
    if (owned.items.size > 0)
      yield* ctx.progress.note(
        `${entity.name}: its id map was empty; adopted ${owned.items.size} items of this pipeline found in the target`,
      )
    if (owned.duplicates.size > 0)
      yield* ctx.progress.note(
        `${entity.name}: ${owned.duplicates.size} records exist more than once in the target and are held back as dead letters (${duplicateCode}): ${describeDuplicates(entity.name, owned.duplicates)}`,
      )
    return owned.items.size
  })
