/**
 * The portal's items: one table per entityTypeId with its own id sequence, indexed on
 * `originId` and `xmlId` so a client's recovery lookups (`@originId`) stay cheap.
 */
import type * as EntityTypes from "./EntityTypes.js"
import * as MultiFields from "./internal/multiFields.js"

/** A stored item: every field of its type (null when unset), user fields and multi-fields. */
export type Item = Readonly<Record<string, unknown>> & { readonly id: number }

/** A field a request sent that the type does not have: ignored, as the real portal does, but recorded. */
export interface IgnoredField {
  readonly method: string
  readonly entityTypeId: number
  readonly field: string
}

/** The JSON form of a store, for persistence. */
export interface Snapshot {
  readonly version: 1
  /** The id the next multi-field value gets (absent in snapshots from before values had ids). */
  readonly nextMultiFieldValueId?: number
  readonly tables: ReadonlyArray<{
    readonly entityTypeId: number
    readonly nextId: number
    readonly lastImportedCreatedTime?: string
    readonly items: ReadonlyArray<Item>
  }>
}

interface Table {
  nextId: number
  lastImportedCreatedTime: string | undefined
  readonly items: Map<number, Item>
  readonly byOriginId: Map<string, Set<number>>
  readonly byXmlId: Map<string, Set<number>>
}

const emptyTable = (): Table => ({
  nextId: 1,
  lastImportedCreatedTime: undefined,
  items: new Map(),
  byOriginId: new Map(),
  byXmlId: new Map(),
})

const indexAdd = (index: Map<string, Set<number>>, key: unknown, id: number) => {
  if (key === null || key === undefined || key === "") return
  const k = String(key)
  let set = index.get(k)
  if (set === undefined) {
    set = new Set()
    index.set(k, set)
  }
  set.add(id)
}

const indexRemove = (index: Map<string, Set<number>>, key: unknown, id: number) => {
  if (key === null || key === undefined || key === "") return
  const set = index.get(String(key))
  set?.delete(id)
  if (set?.size === 0) index.delete(String(key))
}

/** An in-memory store of CRM items. Not an Effect service: the emulator owns one per portal. */
export class Store {
  readonly #tables = new Map<number, Table>()
  /** Fields requests sent that their type does not have (most recent last, capped). */
  readonly ignoredFields: Array<IgnoredField> = []
  #version = 0
  /** Multi-field value ids are one sequence across all items and types, as on the portal. */
  #nextValueId = 1

  constructor(readonly types: ReadonlyMap<number, EntityTypes.EntityType>) {
    for (const id of types.keys()) this.#tables.set(id, emptyTable())
  }

  /** Increases on every mutation; persistence uses it to skip unchanged snapshots. */
  get version(): number {
    return this.#version
  }

  #table(entityTypeId: number): Table {
    const table = this.#tables.get(entityTypeId)
    if (table === undefined) throw new Error(`Unknown entityTypeId ${entityTypeId}`)
    return table
  }

  has(entityTypeId: number, id: number): boolean {
    return this.#tables.get(entityTypeId)?.items.has(id) ?? false
  }

  get(entityTypeId: number, id: number): Item | undefined {
    return this.#tables.get(entityTypeId)?.items.get(id)
  }

  /** Items of a type in ascending id order. */
  items(entityTypeId: number): ReadonlyArray<Item> {
    return [...(this.#tables.get(entityTypeId)?.items.values() ?? [])]
  }

  /** Iterates items of a type in ascending id order without copying. */
  iterate(entityTypeId: number): IterableIterator<Item> {
    return (this.#tables.get(entityTypeId)?.items ?? new Map<number, Item>()).values()
  }

  count(entityTypeId: number): number {
    return this.#tables.get(entityTypeId)?.items.size ?? 0
  }

  /** Counts per entityTypeId (types with no items included as 0). */
  counts(): Record<number, number> {
    const out: Record<number, number> = {}
    for (const [id, t] of this.#tables) out[id] = t.items.size
    return out
  }

  /** Ids whose `originId` (or `xmlId` when `key` is "xmlId") is one of `values`. */
  idsBy(entityTypeId: number, key: "originId" | "xmlId", values: ReadonlyArray<unknown>): Set<number> {
    const table = this.#tables.get(entityTypeId)
    const out = new Set<number>()
    if (table === undefined) return out
    const index = key === "originId" ? table.byOriginId : table.byXmlId
    for (const v of values) for (const id of index.get(String(v)) ?? []) out.add(id)
    return out
  }

  /** The id the next insert of that type will get. */
  peekNextId(entityTypeId: number): number {
    return this.#table(entityTypeId).nextId
  }

  lastImportedCreatedTime(entityTypeId: number): string | undefined {
    return this.#table(entityTypeId).lastImportedCreatedTime
  }

  setLastImportedCreatedTime(entityTypeId: number, value: string): void {
    this.#table(entityTypeId).lastImportedCreatedTime = value
  }

  /**
   * Gives every multi-field value without an `ID` the next one; values that have one (a seed, a
   * snapshot, an update) keep it and move the sequence past it.
   */
  #withValueIds(entityTypeId: number, values: Record<string, unknown>): Record<string, unknown> {
    const type = this.types.get(entityTypeId)
    if (type === undefined) return values
    let out = values
    const names = new Set(MultiFields.namesOf(type))
    // In the order the request gave the fields, so ids follow the order values were sent in.
    for (const name of Object.keys(values).filter((k) => names.has(k))) {
      const list = values[name]
      if (!Array.isArray(list)) continue
      for (const v of list as ReadonlyArray<MultiFields.Value>) {
        if (typeof v.ID === "number") this.#nextValueId = Math.max(this.#nextValueId, v.ID + 1)
      }
      if (out === values) out = { ...values }
      out[name] = (list as ReadonlyArray<MultiFields.Value>).map((v) =>
        typeof v.ID === "number" ? v : { ...v, ID: this.#nextValueId++, TYPE_ID: v.TYPE_ID ?? name },
      )
    }
    return out
  }

  /** A new multi-field value id (for values an update creates). */
  allocateValueId(): number {
    return this.#nextValueId++
  }

  /** Inserts an item; `values.id`, when given, seeds a specific id (tests), else the next id. */
  insert(entityTypeId: number, values: Record<string, unknown>, id?: number): Item {
    const table = this.#table(entityTypeId)
    const itemId = id ?? table.nextId
    if (table.items.has(itemId)) throw new Error(`Item ${entityTypeId}/${itemId} exists`)
    table.nextId = Math.max(table.nextId, itemId + 1)
    const item: Item = { ...this.#withValueIds(entityTypeId, values), id: itemId }
    table.items.set(itemId, item)
    indexAdd(table.byOriginId, item.originId, itemId)
    indexAdd(table.byXmlId, item.xmlId, itemId)
    this.#version++
    return item
  }

  update(entityTypeId: number, id: number, values: Record<string, unknown>): Item | undefined {
    const table = this.#table(entityTypeId)
    const before = table.items.get(id)
    if (before === undefined) return undefined
    const after: Item = { ...before, ...this.#withValueIds(entityTypeId, values), id }
    table.items.set(id, after)
    indexRemove(table.byOriginId, before.originId, id)
    indexRemove(table.byXmlId, before.xmlId, id)
    indexAdd(table.byOriginId, after.originId, id)
    indexAdd(table.byXmlId, after.xmlId, id)
    this.#version++
    return after
  }

  delete(entityTypeId: number, id: number): boolean {
    const table = this.#table(entityTypeId)
    const before = table.items.get(id)
    if (before === undefined) return false
    table.items.delete(id)
    indexRemove(table.byOriginId, before.originId, id)
    indexRemove(table.byXmlId, before.xmlId, id)
    this.#version++
    return true
  }

  recordIgnored(field: IgnoredField): void {
    this.ignoredFields.push(field)
    if (this.ignoredFields.length > 10_000) this.ignoredFields.splice(0, this.ignoredFields.length - 10_000)
  }

  /** Empties every table and restarts the id sequences. */
  clear(): void {
    for (const id of this.#tables.keys()) this.#tables.set(id, emptyTable())
    this.#nextValueId = 1
    this.ignoredFields.length = 0
    this.#version++
  }

  snapshot(): Snapshot {
    return {
      version: 1,
      nextMultiFieldValueId: this.#nextValueId,
      tables: [...this.#tables].map(([entityTypeId, t]) => ({
        entityTypeId,
        nextId: t.nextId,
        ...(t.lastImportedCreatedTime === undefined
          ? {}
          : { lastImportedCreatedTime: t.lastImportedCreatedTime }),
        items: [...t.items.values()],
      })),
    }
  }

  /** Replaces the contents with a snapshot (tables of types this portal no longer has are dropped). */
  restore(snapshot: Snapshot): void {
    this.clear()
    this.#nextValueId = Math.max(1, snapshot.nextMultiFieldValueId ?? 1)
    for (const t of snapshot.tables) {
      if (!this.#tables.has(t.entityTypeId)) continue
      for (const item of t.items) this.insert(t.entityTypeId, item, item.id)
      const table = this.#table(t.entityTypeId)
      table.nextId = Math.max(table.nextId, t.nextId)
      table.lastImportedCreatedTime = t.lastImportedCreatedTime
    }
  }
}
