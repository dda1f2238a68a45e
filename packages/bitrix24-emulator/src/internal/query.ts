/**
 * `crm.item.list` filters and ordering: keys with the prefixes `= != > >= < <= @ !@ %`
 * (`!` alone means "not equal"), values compared as numbers, dates or strings as the portal does.
 */
import type * as EntityTypes from "../EntityTypes.js"
import type * as Store from "../Store.js"
import * as V from "./values.js"

type Op = "=" | "!=" | ">" | ">=" | "<" | "<=" | "@" | "!@" | "%" | "!%"

export interface Condition {
  readonly field: string
  readonly op: Op
  readonly value: unknown
}

const prefixes: ReadonlyArray<readonly [string, Op]> = [
  [">=", ">="],
  ["<=", "<="],
  ["!@", "!@"],
  ["!=", "!="],
  ["!%", "!%"],
  ["=", "="],
  [">", ">"],
  ["<", "<"],
  ["@", "@"],
  ["%", "%"],
  ["!", "!="],
]

const resolve = (type: EntityTypes.EntityType, name: string): string =>
  type.fields.has(name) ? name : (type.byUpperName.get(name) ?? name)

/** Parses a filter object into conditions. */
export const parseFilter = (type: EntityTypes.EntityType, filter: unknown): ReadonlyArray<Condition> => {
  if (!V.isObject(filter)) return []
  const out: Array<Condition> = []
  for (const [key, value] of Object.entries(filter)) {
    const match = prefixes.find(([p]) => key.startsWith(p))
    const op: Op = match?.[1] ?? "="
    const field = resolve(type, match === undefined ? key : key.slice(match[0].length))
    out.push({ field, op, value })
  }
  return out
}

const isNumeric = (v: unknown): boolean =>
  typeof v === "number" || (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)))

const looksLikeDate = (v: unknown): boolean => typeof v === "string" && /^\d{4}-\d{2}-\d{2}/.test(v)

/** -1, 0, 1, or undefined when the values cannot be ordered. */
export const compare = (a: unknown, b: unknown): number | undefined => {
  if (a === null || a === undefined || a === "") {
    return b === null || b === undefined || b === "" ? 0 : undefined
  }
  if (b === null || b === undefined || b === "") return undefined
  if (isNumeric(a) && isNumeric(b)) return Math.sign(Number(a) - Number(b))
  if (looksLikeDate(a) && looksLikeDate(b)) {
    const x = V.parseTime(a)
    const y = V.parseTime(b)
    if (x !== undefined && y !== undefined) return Math.sign(x - y)
  }
  const x = String(a)
  const y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
}

const equals = (a: unknown, b: unknown): boolean => {
  if (
    (a === null || a === undefined || a === "") &&
    (b === null || b === undefined || b === "" || b === false)
  ) {
    return true
  }
  return compare(a, b) === 0
}

const scalarMatches = (v: unknown, op: Op, value: unknown): boolean => {
  switch (op) {
    case "=":
      return V.isIterable(value) ? V.toList(value).some((x) => equals(v, x)) : equals(v, value)
    case "!=":
      return V.isIterable(value) ? !V.toList(value).some((x) => equals(v, x)) : !equals(v, value)
    case "@":
      return V.isIterable(value) ? V.toList(value).some((x) => equals(v, x)) : equals(v, value)
    case "!@":
      return V.isIterable(value) ? !V.toList(value).some((x) => equals(v, x)) : !equals(v, value)
    case "%":
      return v !== null && v !== undefined && String(v).toLowerCase().includes(String(value).toLowerCase())
    case "!%":
      return !(v !== null && v !== undefined && String(v).toLowerCase().includes(String(value).toLowerCase()))
    default: {
      const c = compare(v, value)
      if (c === undefined) return false
      return op === ">" ? c > 0 : op === ">=" ? c >= 0 : op === "<" ? c < 0 : c <= 0
    }
  }
}

export const matches = (item: Store.Item, condition: Condition): boolean => {
  const v = item[condition.field]
  if (Array.isArray(v)) {
    const negative = condition.op === "!=" || condition.op === "!@" || condition.op === "!%"
    const positive: Op = negative
      ? ({ "!=": "=", "!@": "@", "!%": "%" } as const)[condition.op]
      : condition.op
    const any = v.some((x) => scalarMatches(V.isObject(x) ? x.VALUE : x, positive, condition.value))
    return negative ? !any : any
  }
  return scalarMatches(v, condition.op, condition.value)
}

/**
 * Candidate items from the originId/xmlId/id indexes when a condition allows, in id order;
 * undefined means scan everything. `>id` (keyset paging) starts after the given id.
 */
export const candidates = (
  store: Store.Store,
  entityTypeId: number,
  conditions: ReadonlyArray<Condition>,
): Iterable<Store.Item> | undefined => {
  for (const c of conditions) {
    if (c.op !== "=" && c.op !== "@") continue
    const values = V.isIterable(c.value) ? V.toList(c.value) : [c.value]
    if (c.field === "originId" || c.field === "xmlId") {
      const ids = [...store.idsBy(entityTypeId, c.field, values)].sort((a, b) => a - b)
      return ids.map((id) => store.get(entityTypeId, id)!)
    }
    if (c.field === "id") {
      const ids = [...new Set(values.map(V.toId).filter((id): id is number => id !== undefined))]
      return ids
        .sort((a, b) => a - b)
        .map((id) => store.get(entityTypeId, id))
        .filter((x): x is Store.Item => x !== undefined)
    }
  }
  const lower = conditions.find((c) => c.field === "id" && (c.op === ">" || c.op === ">="))
  const bound = lower === undefined ? undefined : V.toInt(lower.value)
  if (lower === undefined || bound === undefined) return undefined
  const from = Math.max(1, lower.op === ">" ? bound + 1 : bound)
  const end = store.peekNextId(entityTypeId)
  // Ids are dense unless items were deleted: walking the id range beats scanning from the start.
  if (end - from > store.count(entityTypeId)) return undefined
  return (function* () {
    for (let id = from; id < end; id++) {
      const item = store.get(entityTypeId, id)
      if (item !== undefined) yield item
    }
  })()
}

export interface OrderBy {
  readonly field: string
  readonly desc: boolean
}

export const parseOrder = (type: EntityTypes.EntityType, order: unknown): ReadonlyArray<OrderBy> => {
  if (!V.isObject(order)) return []
  return Object.entries(order).map(([k, v]) => ({
    field: resolve(type, k),
    desc: String(v).toUpperCase() === "DESC",
  }))
}

export const sort = (items: Array<Store.Item>, order: ReadonlyArray<OrderBy>): Array<Store.Item> => {
  if (order.length === 0 || (order.length === 1 && order[0]!.field === "id" && !order[0]!.desc)) return items
  return items.sort((a, b) => {
    for (const o of order) {
      const c = compare(a[o.field], b[o.field]) ?? (a[o.field] == null ? -1 : 1)
      if (c !== 0) return o.desc ? -c : c
    }
    return a.id - b.id
  })
}
