import { Chunk, Data, Duration, Effect, Option, type Scope, Stream } from "effect"
import * as Pipeline from "../../Pipeline.js"
import * as Reference from "../../Reference.js"
import type * as Sink from "../../Sink.js"
import type * as Source from "../../Source.js"
import { type IdMapEntry, type IdMapStatus, StateStore, type StateStoreError } from "../../StateStore.js"
import { targetOf } from "./bind.js"
import { connectSources, credentialsOf } from "./connect.js"
import { recordKey } from "./context.js"
import { diffFields, type FieldDiff, show } from "./fieldDiff.js"
import { type Prepared, prepare } from "./prepare.js"
import { storableKey } from "./storable.js"
import { contentHash } from "./writtenHash.js"

/**
 * `verify`: compares the source, the id map and the target, per entity, and writes nothing. It
 * reads every record of the source (keys, and what the mapping makes of them today), the whole
 * id map, and every item of the pipeline's originator in the target with the mapped fields'
 * values (`readOwned`, through the sink's rate limiter). Each difference is reported once, under
 * the first of these that explains it: an item of an unknown record is `extra`; a second item of
 * a record is a `duplicate`; a record whose item is gone is `missing`; a record the source no
 * longer has is `gone`; one never written is `unmigrated`; a link that is not what the source's
 * reference resolves to today is a `link`; any other mapped field is `content` (for a sample).
 */

export type FindingKind = "missing" | "extra" | "duplicate" | "link" | "gone" | "unmigrated" | "content"

/** What to do about a finding. */
export type FindingAction =
  /** `pipeline retry`: the record is in the dead letters. */
  | "retry"
  /** `pipeline run`: the record is read and written by the next run. */
  | "run"
  /** `pipeline run --full`: the source or the mapping changed since the item was written. */
  | "run --full"
  /**
   * `pipeline relink --entity <e>`, then `pipeline run`: the target changed (an item deleted or
   * edited by hand, an import outside the state); relink takes the items as they are and the
   * next run writes every record of the entity again.
   */
  | "relink"
  /** `pipeline undo`: take back what the pipeline created. */
  | "undo"
  /** Delete the named items in the target by hand: copies, or items of records the source lost. */
  | "delete in portal"

export interface Finding {
  readonly kind: FindingKind
  readonly entity: string
  /** The record's legacy key; for `extra`, the key the item's identity names. */
  readonly key: string
  /** The target's items concerned (the id map's first). */
  readonly targetIds: ReadonlyArray<string>
  /** For `link` and `content`: the fields that differ. */
  readonly fields?: ReadonlyArray<FieldDiff> | undefined
  readonly message: string
  readonly action: FindingAction
}

/** The counts of one entity on each side. */
export interface VerifyCounts {
  readonly entity: string
  readonly target: string
  /** Records the source holds and the mapping writes. */
  readonly source: number
  /** Records the source marks deleted (`deleted.when`), or the steps filter out: not expected as new items. */
  readonly sourceDeleted: number
  /** Id-map rows by status. */
  readonly idMap: Readonly<Record<IdMapStatus, number>>
  /** Dead letters of the entity (dismissed ones included). */
  readonly deadLetters: number
  /** Items of the pipeline's originator in the target whose identity names this entity. */
  readonly portal: number
  /** Records whose mapped fields were compared with their item (`--sample`). */
  readonly compared: number
}

export interface VerifyResult {
  readonly pipeline: string
  /** Whether a stop request ended it before the comparison: then nothing was compared. */
  readonly interrupted: boolean
  /** Records per entity compared field by field: a number, or `all`. */
  readonly sample: number | "all"
  /** Requests the target was sent to read its items. */
  readonly estimate: VerifyEstimate
  readonly entities: ReadonlyArray<VerifyCounts>
  readonly findings: ReadonlyArray<Finding>
}

/** What reading the target will cost, said before it starts. */
export interface VerifyEstimate {
  readonly requests: number
  readonly durationMs: number
  readonly how: string
}

export interface VerifyOptions {
  /** Only these entities (default: all). References are resolved through every entity's id map. */
  readonly entities?: ReadonlyArray<string> | undefined
  /** Records per entity whose mapped fields are compared with their items (default 100), or `all`. */
  readonly sample?: number | "all" | undefined
  /** Told the cost of reading the target before it starts. */
  readonly onEstimate?: ((estimate: VerifyEstimate) => Effect.Effect<void>) | undefined
  /** Completes when verify should stop: reading halts and nothing is compared. */
  readonly stop?: Effect.Effect<void> | undefined
}

/** Why verify could not run: the message says what, and what to do. */
export class VerifyRefusal extends Data.TaggedError("VerifyRefusal")<{ readonly message: string }> {}

const refuse = (message: string): VerifyRefusal => new VerifyRefusal({ message })

const statuses: ReadonlyArray<IdMapStatus> = ["pending", "created", "deleting", "deleted"]

/** What the source holds for one entity: every key, and the records the mapping writes. */
interface SourceSide {
  /** Every key read (live, deleted or filtered). */
  readonly keys: Set<string>
  /** Records the mapping writes as items, by key. */
  readonly live: Map<string, Prepared>
  readonly deleted: number
}

/** Reads every record of an entity from the start and prepares it as a run would. */
const readSource = (
  pipeline: Pipeline.Pipeline,
  name: string,
  conn: Source.Connection<unknown>,
  halt: Effect.Effect<void>,
): Effect.Effect<SourceSide, Source.SourceError> =>
  Effect.gen(function* () {
    const entity = pipeline.entities[name]!
    const preparer = prepare(pipeline.name, name, entity)
    const side: SourceSide & { deleted: number } = { keys: new Set(), live: new Map(), deleted: 0 }
    yield* conn.read(entity.from.spec, { after: undefined, limit: undefined }).pipe(
      Stream.haltWhen(halt),
      Stream.grouped(500),
      Stream.mapEffect((chunk) => preparer.chunk(Chunk.toReadonlyArray(chunk))),
      Stream.runForEach((outcomes) =>
        Effect.sync(() => {
          for (const o of outcomes) {
            side.keys.add(o.key)
            if (o._tag === "Prepared" && o.deleted === false) side.live.set(o.key, o)
            else if (o._tag !== "Failed") side.deleted++
          }
        }),
      ),
    )
    return side
  })

/** A field's value with its references replaced by the ids the id map holds today (`undefined`: unresolved). */
const resolveLink = (
  value: unknown,
  ids: ReadonlyMap<string, string>,
): { readonly value: unknown; readonly unresolved: ReadonlyArray<Reference.Reference> } => {
  const unresolved: Array<Reference.Reference> = []
  const one = (v: unknown): unknown => {
    if (!Reference.isReference(v)) return v
    const id = ids.get(recordKey(v.entity, v.key))
    if (id === undefined) unresolved.push(v)
    // Shown as the target shows its ids: numbers when they are.
    return id !== undefined && /^\d+$/.test(id) ? Number(id) : id
  }
  return {
    value: Array.isArray(value) ? value.map(one).filter((v) => v !== undefined) : one(value),
    unresolved,
  }
}

const holdsReference = (value: unknown): boolean =>
  Reference.isReference(value) || (Array.isArray(value) && value.some(Reference.isReference))

/** `n` keys spread evenly over the sorted `keys`: the same sample every time, across the key range. */
const spread = (keys: ReadonlyArray<string>, n: number | "all"): ReadonlyArray<string> => {
  if (n === "all" || keys.length <= n) return keys
  if (n <= 0) return []
  const out: Array<string> = []
  for (let i = 0; i < n; i++) out.push(keys[Math.floor((i * keys.length) / n)]!)
  return out
}

const byId = (a: string, b: string) => {
  const x = Number(a)
  const y = Number(b)
  return Number.isFinite(x) && Number.isFinite(y) ? x - y : a < b ? -1 : a > b ? 1 : 0
}

/** The findings of one entity, each difference once. */
const compareEntity = (
  pipeline: string,
  name: string,
  source: SourceSide,
  rows: ReadonlyMap<string, IdMapEntry>,
  items: ReadonlyMap<string, ReadonlyArray<Sink.OwnedValues>>,
  ids: ReadonlyMap<string, string>,
  letters: ReadonlyMap<string, { readonly dismissed: boolean; readonly code: string }>,
  sample: number | "all",
  expect: (fields: Readonly<Record<string, unknown>>) => {
    readonly fields: Readonly<Record<string, unknown>>
    readonly links: ReadonlySet<string>
  },
): { readonly findings: ReadonlyArray<Finding>; readonly compared: number } => {
  const findings: Array<Finding> = []
  const relinkHint = `\`pipeline relink ${pipeline} --entity ${name}\`, then \`pipeline run ${pipeline}\``
  // The target's items no id-map row knows, and second items of a record.
  for (const [key, found] of items) {
    const row = rows.get(key)
    const known = row !== undefined && row.status !== "deleted" && row.targetId !== null
    const itemIds = found.map((i) => i.targetId).sort(byId)
    if (row?.status === "pending") continue // the next run finds it by its identity
    if (!known && itemIds.length > 1) {
      // Several items and no row: relink holds such a record back (DUPLICATE_IN_TARGET) until one is left.
      findings.push({
        kind: "duplicate",
        entity: name,
        key,
        targetIds: itemIds,
        message: `${name}:${key} is ${itemIds.length} items in the portal (${itemIds.join(", ")}) and the id map knows none of them: delete all but one, then ${relinkHint}`,
        action: "delete in portal",
      })
      continue
    }
    if (!known) {
      const inSource = source.live.has(key)
      findings.push({
        kind: "extra",
        entity: name,
        key,
        targetIds: itemIds,
        message: `item ${itemIds.join(", ")} carries ${name}:${key} for this pipeline, but the id map ${row?.status === "deleted" ? "says it was deleted" : "does not know it"} (an import outside this state)${inSource ? `: ${relinkHint} adopts it` : "; the source has no such record: delete it in the portal if it is not wanted"}`,
        action: inSource ? "relink" : "delete in portal",
      })
      continue
    }
    const others = itemIds.filter((id) => id !== row.targetId)
    if (others.length > 0 && itemIds.includes(row.targetId!))
      findings.push({
        kind: "duplicate",
        entity: name,
        key,
        targetIds: [row.targetId!, ...others],
        message: `${name}:${key} is item ${row.targetId} and also item ${others.join(", ")} in the portal: delete the copies (${others.join(", ")})`,
        action: "delete in portal",
      })
  }
  const missingKeys = new Set<string>()
  for (const [key, row] of rows) {
    if (row.status !== "created" && row.status !== "deleting") continue
    const found = items.get(key) ?? []
    const present = found.some((i) => i.targetId === row.targetId)
    if (!source.keys.has(key)) {
      findings.push({
        kind: "gone",
        entity: name,
        key,
        targetIds: [row.targetId ?? ""],
        message: present
          ? `${name}:${key} no longer exists in the source (deleted there), but its item ${row.targetId} is still in the portal: delete it there if it should go`
          : `${name}:${key} no longer exists in the source, and its item ${row.targetId} is gone from the portal too: ${relinkHint} forgets it`,
        action: present ? "delete in portal" : "relink",
      })
      continue
    }
    if (!present) {
      missingKeys.add(key)
      const instead = found.map((i) => i.targetId).sort(byId)
      findings.push({
        kind: "missing",
        entity: name,
        key,
        targetIds: [row.targetId ?? "", ...instead],
        message:
          instead.length === 0
            ? `the id map says ${name}:${key} is item ${row.targetId}, which the portal no longer has (deleted by hand): ${relinkHint} creates it again`
            : `the id map says ${name}:${key} is item ${row.targetId}, but the portal holds it as item ${instead.join(", ")}: ${relinkHint} takes that one`,
        action: "relink",
      })
    }
  }
  // Records the source holds that the target does not: never written.
  for (const key of source.live.keys()) {
    const row = rows.get(key)
    if (row !== undefined && row.status !== "deleted") continue
    // In the portal without a row: reported above as extra or duplicate.
    if ((items.get(key)?.length ?? 0) > 0) continue
    const letter = letters.get(storableKey(key))
    if (letter?.dismissed) continue
    findings.push({
      kind: "unmigrated",
      entity: name,
      key,
      targetIds: [],
      message:
        letter !== undefined
          ? `${name}:${key} is not in the portal: it is in the dead letters (${letter.code}, \`pipeline failures ${pipeline}\`)`
          : `${name}:${key} is not in the portal${row?.status === "deleted" ? " (its item was deleted)" : ""}: the next \`pipeline run ${pipeline}\` writes it`,
      action: letter !== undefined ? "retry" : "run",
    })
  }
  // Links of every record, and the other fields of a sample, against its own item.
  const comparable: Array<string> = []
  const expectedOf = (record: Prepared) => {
    const resolved: Record<string, unknown> = {}
    const unresolved: Array<Reference.Reference> = []
    const links = new Set<string>()
    // What each link field names in the source, for the message: `company:1`.
    const names = new Map<string, string>()
    for (const [field, value] of Object.entries({ ...record.fields, ...record.deferred })) {
      if (!holdsReference(value)) {
        resolved[field] = value
        continue
      }
      const r = resolveLink(value, ids)
      resolved[field] = r.value
      unresolved.push(...r.unresolved)
      links.add(field)
      const refs = (Array.isArray(value) ? value : [value]).filter(Reference.isReference)
      names.set(field, refs.map((x) => `${x.entity}:${x.key}`).join(", "))
    }
    const held = expect(resolved)
    for (const l of held.links) links.add(l)
    return { fields: held.fields, links, unresolved, names }
  }
  for (const [key, record] of source.live) {
    const row = rows.get(key)
    if (row?.status !== "created" || missingKeys.has(key)) continue
    const item = items.get(key)?.find((i) => i.targetId === row.targetId)
    if (item === undefined) continue
    comparable.push(key)
    const expected = expectedOf(record)
    const links: Record<string, unknown> = {}
    for (const field of expected.links) if (field in expected.fields) links[field] = expected.fields[field]
    const differing = diffFields(links, item.fields)
    if (differing.length > 0) {
      const changed = contentHash(row.payloadHash) !== record.hash
      const unresolved = expected.unresolved
      findings.push({
        kind: "link",
        entity: name,
        key,
        targetIds: [item.targetId],
        fields: differing,
        message: `${name}:${key} (item ${item.targetId}) links differ from what the source's references resolve to today: ${differing.map((d) => `${d.text}${expected.names.has(d.field) ? ` (the source links ${expected.names.get(d.field)})` : ""}`).join("; ")}${unresolved.length > 0 ? ` (not in the id map: ${unresolved.map((r) => `${r.entity}:${r.key}`).join(", ")})` : ""}${changed ? "; the record changed since it was written" : "; the portal was changed"}`,
        action: unresolved.length > 0 ? "run" : changed ? "run --full" : "relink",
      })
    }
  }
  comparable.sort()
  const sampled = spread(comparable, sample)
  for (const key of sampled) {
    const record = source.live.get(key)!
    const row = rows.get(key)!
    const item = items.get(key)!.find((i) => i.targetId === row.targetId)!
    const expected = expectedOf(record)
    const differing = diffFields(expected.fields, item.fields, expected.links)
    if (differing.length === 0) continue
    const changed = contentHash(row.payloadHash) !== record.hash
    findings.push({
      kind: "content",
      entity: name,
      key,
      targetIds: [item.targetId],
      fields: differing,
      message: `${name}:${key} (item ${item.targetId}): ${differing.map((d) => d.text).join("; ")}${changed ? " (the source or the mapping changed since it was written: `pipeline run --full` writes it)" : ` (the portal was changed: ${relinkHint} writes it again)`}`,
      action: changed ? "run --full" : "relink",
    })
  }
  return { findings, compared: sampled.length }
}

/** Compares what `options` selects; writes nothing. */
export const verifyPipeline = (
  pipeline: Pipeline.Pipeline,
  options: VerifyOptions,
): Effect.Effect<
  VerifyResult,
  Pipeline.DefinitionError | VerifyRefusal | Sink.SinkError | Source.SourceError | StateStoreError,
  StateStore | Scope.Scope
> =>
  Effect.gen(function* () {
    const store = yield* StateStore
    const order = yield* Pipeline.validate(pipeline)
    for (const name of options.entities ?? []) {
      if (!order.includes(name))
        return yield* refuse(`unknown entity "${name}" (entities: ${order.join(", ")})`)
    }
    const sample = options.sample ?? 100
    if (sample !== "all" && (!Number.isInteger(sample) || sample < 0))
      return yield* refuse(`--sample takes a number of records (0 or more) or "all", not ${show(sample)}`)
    const selected = options.entities ? order.filter((n) => options.entities!.includes(n)) : order
    const sink = yield* pipeline.sink.connect({
      originator: Pipeline.originator(pipeline),
      dryRun: true,
      credentials: credentialsOf(store),
      rateBuckets: store.rateBuckets,
    })
    const readOwned = sink.readOwned
    if (readOwned === undefined)
      return yield* refuse(
        `the ${pipeline.sink.kind} sink cannot read the items it owns, so nothing can be verified`,
      )
    const bound = Option.getOrUndefined(yield* store.binding(pipeline.name))
    const target = targetOf(pipeline.sink, sink)
    if (bound !== undefined && bound.target !== target)
      return yield* refuse(
        `the state of pipeline "${pipeline.name}" belongs to ${bound.target}, not to ${target}: its ids name items of that portal. Point the pipeline at that portal to verify there`,
      )

    // Every entity's id map: references resolve through the entities not verified too.
    const rowsOf = new Map<string, Map<string, IdMapEntry>>()
    const ids = new Map<string, string>()
    for (const name of order) {
      const rows = yield* store.idMapRows(pipeline.name, name, { statuses })
      rowsOf.set(name, new Map(rows.map((r) => [r.sourceKey, r])))
      for (const r of rows)
        if (r.status === "created" && r.targetId !== null) ids.set(recordKey(name, r.sourceKey), r.targetId)
    }

    // Entities writing to the same target share one listing, of the fields any of them maps.
    const byTarget = new Map<string, { target: Sink.Target; entities: Array<string> }>()
    for (const name of selected) {
      const to = pipeline.entities[name]!.to
      const group = byTarget.get(to.name) ?? { target: to, entities: [] }
      group.entities.push(name)
      byTarget.set(to.name, group)
    }
    const expected = [...byTarget.values()].map((g) =>
      g.entities.reduce(
        (n, e) => n + [...rowsOf.get(e)!.values()].filter((r) => r.status !== "deleted").length,
        0,
      ),
    )
    const cost = sink.readCost?.(expected)
    const estimate: VerifyEstimate = {
      requests: cost?.requests ?? byTarget.size,
      durationMs: cost === undefined ? 0 : Duration.toMillis(cost.duration),
      how: cost?.how ?? `${pipeline.sink.kind} items of the pipeline's originator`,
    }
    if (options.onEstimate) yield* options.onEstimate(estimate)

    let stopping = false
    // Whichever reading sees the stop first marks it, so no comparison runs on half a reading.
    const halt =
      options.stop === undefined
        ? Effect.never
        : options.stop.pipe(Effect.zipRight(Effect.sync(() => (stopping = true))), Effect.asVoid)
    if (options.stop)
      yield* options.stop.pipe(Effect.zipRight(Effect.sync(() => (stopping = true))), Effect.forkScoped)

    const sources = yield* connectSources(pipeline, selected)
    const sourceOf = new Map<string, SourceSide>()
    for (const name of selected) {
      const conn = sources.get(pipeline.entities[name]!.from.source)!
      sourceOf.set(name, yield* readSource(pipeline, name, conn, halt))
    }
    const itemsOf = new Map<string, Map<string, Array<Sink.OwnedValues>>>(selected.map((n) => [n, new Map()]))
    for (const group of byTarget.values()) {
      if (stopping) break
      const fields = new Set<string>()
      for (const name of group.entities)
        for (const r of sourceOf.get(name)!.live.values())
          for (const f of [...Object.keys(r.fields), ...Object.keys(r.deferred)]) fields.add(f)
      yield* readOwned(group.target, [...fields].sort()).pipe(
        Stream.haltWhen(halt),
        Stream.runForEach((item) =>
          Effect.sync(() => {
            // Entity names never hold ":", so the first one ends the entity (keys may hold it).
            const at = item.originId.indexOf(":")
            const entity = at > 0 ? item.originId.slice(0, at) : ""
            // Another entity's item (one not verified now) is none of this verify's business; an
            // identity naming no entity of the pipeline belongs to the target's first entity's extras.
            if (!group.entities.includes(entity) && order.includes(entity)) return
            const owner = group.entities.includes(entity) ? entity : group.entities[0]!
            const key = group.entities.includes(entity) ? item.originId.slice(at + 1) : item.originId
            const byKey = itemsOf.get(owner)!
            const list = byKey.get(key)
            if (list === undefined) byKey.set(key, [item])
            else if (!list.some((i) => i.targetId === item.targetId)) list.push(item)
          }),
        ),
      )
    }

    const counts = yield* store.idMapCounts(pipeline.name)
    const entities: Array<VerifyCounts> = []
    const findings: Array<Finding> = []
    for (const name of selected) {
      const letters = yield* store.deadLetters(pipeline.name, { entity: name, limit: 1_000_000_000 })
      const source = sourceOf.get(name)!
      const items = itemsOf.get(name)!
      const idMap = Object.fromEntries(
        statuses.map((s) => [s, counts.find((c) => c.entity === name && c.status === s)?.count ?? 0]),
      ) as Record<IdMapStatus, number>
      const compared = stopping
        ? { findings: [], compared: 0 }
        : compareEntity(
            pipeline.name,
            name,
            source,
            rowsOf.get(name)!,
            items,
            ids,
            new Map(letters.map((d) => [d.sourceKey, { dismissed: d.dismissedAt !== null, code: d.code }])),
            sample,
            (fields) =>
              sink.expected?.(pipeline.entities[name]!.to, fields) ?? { fields, links: new Set<string>() },
          )
      findings.push(...compared.findings)
      entities.push({
        entity: name,
        target: pipeline.entities[name]!.to.name,
        source: source.live.size,
        sourceDeleted: source.deleted,
        idMap,
        deadLetters: letters.length,
        portal: [...items.values()].reduce((n, list) => n + list.length, 0),
        compared: compared.compared,
      })
    }
    return {
      pipeline: pipeline.name,
      interrupted: stopping,
      sample,
      estimate,
      entities,
      findings,
    }
  })

/** Whether everything matched: no finding, and not stopped early. */
export const matches = (result: VerifyResult): boolean => !result.interrupted && result.findings.length === 0
