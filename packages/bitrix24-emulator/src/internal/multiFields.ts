/**
 * Phones, e-mails, websites and messengers (`crm_multifield`): every value has its own id, assigned
 * by the portal when the value is created (b24restdocs `api-reference/crm/data-types.md`, structure
 * `ID`, `TYPE_ID`, `VALUE`, `VALUE_TYPE`).
 *
 * An item stores them under the top-level fields `PHONE`, `EMAIL`, `WEB`, `IM` as lists of
 * `{ID, TYPE_ID, VALUE_TYPE, VALUE}`; the API shows them as `fm: [{id, valueType, value, typeId}]`.
 * Imports create values from top-level lists; `crm.item.add`/`update` take `fm`, where the key of an
 * element says what happens (b24restdocs `tutorials/crm/how-to-edit-crm-objects/how-to-change-email-or-phone.md`):
 * `n0`, `n1`... add a value; the id of one of the item's values changes it, or with an empty `value`
 * deletes it; an id the item does not have adds a value; values not mentioned stay as they are.
 */
import { Either } from "effect"
import * as EntityTypes from "../EntityTypes.js"
import * as RestError from "../RestError.js"
import * as V from "./values.js"

/** A stored multi-field value; `ID` is missing until the store assigns one. */
export interface Value {
  readonly ID?: number
  readonly TYPE_ID: string
  readonly VALUE_TYPE: string
  readonly VALUE: string
}

/** The multi-field names a type has (`PHONE`... for leads, contacts and companies; none for deals). */
export const namesOf = (type: EntityTypes.EntityType): ReadonlyArray<string> =>
  [...type.fields.values()].filter((f) => f.isMultiField === true).map((f) => f.name)

const valueTypeOf = (
  name: string,
  raw: unknown,
  fallback: string,
): Either.Either<string, RestError.RestError> => {
  const valueType = raw === undefined || raw === null || raw === "" ? fallback : String(raw).toUpperCase()
  return (EntityTypes.multiFieldValueTypes[name] ?? []).includes(valueType)
    ? Either.right(valueType)
    : Either.left(RestError.valueNotValid(name))
}

const textOf = (name: string, raw: unknown): Either.Either<string, RestError.RestError> =>
  typeof raw === "string" || typeof raw === "number"
    ? Either.right(String(raw))
    : Either.left(RestError.valueNotValid(name))

/**
 * An import's top-level list (`PHONE: [{VALUE, VALUE_TYPE}]`, b24restdocs
 * `api-reference/crm/universal/import/crm-item-import.md`): new values, empty ones skipped.
 */
export const fromList = (
  name: string,
  value: unknown,
): Either.Either<ReadonlyArray<Value>, RestError.RestError> => {
  if (value === null || value === undefined || value === "") return Either.right([])
  if (!V.isIterable(value)) return Either.left(RestError.notIterable(V.phpType(value)))
  const out: Array<Value> = []
  for (const entry of V.toList(value)) {
    if (!V.isObject(entry)) return Either.left(RestError.valueNotValid(name))
    const raw = entry.VALUE ?? entry.value
    if (raw === undefined || raw === null || raw === "") continue
    const text = textOf(name, raw)
    if (Either.isLeft(text)) return Either.left(text.left)
    const valueType = valueTypeOf(name, entry.VALUE_TYPE ?? entry.valueType, "WORK")
    if (Either.isLeft(valueType)) return Either.left(valueType.left)
    out.push({ TYPE_ID: name, VALUE_TYPE: valueType.right, VALUE: text.right })
  }
  return Either.right(out)
}

/** An `fm` element the portal skips without an error; the emulator records it as an ignored field. */
export type Skipped = (key: string) => void

/** PHP sees a list (`[...]`, or keys exactly `0..n-1`) as new values only ("n0", "n1"...). */
const elements = (
  fm: ReadonlyArray<unknown> | Record<string, unknown>,
): ReadonlyArray<readonly [string, unknown]> =>
  Array.isArray(fm) ? fm.map((e, i) => [`n${i}`, e] as const) : Object.entries(fm)

/**
 * Applies `fm` (of `crm.item.add` or `crm.item.update`) to an item's current values and returns the
 * new lists of every multi-field it touched. New values get ids from `nextId`, in the order sent.
 */
export const applyFm = (
  type: EntityTypes.EntityType,
  current: Readonly<Record<string, unknown>> | undefined,
  fm: unknown,
  skipped: Skipped,
  nextId: () => number,
): Either.Either<Record<string, ReadonlyArray<Value>>, RestError.RestError> => {
  // A string or number in `fm` creates nothing and is no error (the tutorial's "Key Considerations").
  if (!V.isIterable(fm)) {
    if (fm !== null && fm !== undefined && fm !== "") skipped("")
    return Either.right({})
  }
  const names = new Set(namesOf(type))
  const lists = new Map<string, Array<Value>>()
  for (const name of names) {
    const stored = current?.[name]
    lists.set(name, Array.isArray(stored) ? [...(stored as ReadonlyArray<Value>)] : [])
  }
  const touched = new Set<string>()
  const find = (id: number): { readonly name: string; readonly index: number } | undefined => {
    for (const [name, list] of lists) {
      const index = list.findIndex((v) => v.ID === id)
      if (index >= 0) return { name, index }
    }
    return undefined
  }
  for (const [key, element] of elements(fm)) {
    if (!V.isObject(element)) {
      skipped(key)
      continue
    }
    // Without typeId the portal answers success and changes nothing (the tutorial's warning).
    const typeId = String(element.typeId ?? element.TYPE_ID ?? "").toUpperCase()
    if (typeId === "" || !names.has(typeId)) {
      skipped(key)
      continue
    }
    const raw = element.value ?? element.VALUE
    const empty = raw === undefined || raw === null || raw === ""
    const existing = /^\d+$/.test(key) ? find(Number(key)) : undefined
    if (existing === undefined) {
      // "If no multipool exists with this id, a new multipool will be created."
      if (empty) continue
      const text = textOf(typeId, raw)
      if (Either.isLeft(text)) return Either.left(text.left)
      const valueType = valueTypeOf(typeId, element.valueType ?? element.VALUE_TYPE, "WORK")
      if (Either.isLeft(valueType)) return Either.left(valueType.left)
      lists
        .get(typeId)!
        .push({ ID: nextId(), TYPE_ID: typeId, VALUE_TYPE: valueType.right, VALUE: text.right })
      touched.add(typeId)
      continue
    }
    const before = lists.get(existing.name)![existing.index]!
    lists.get(existing.name)!.splice(existing.index, 1)
    touched.add(existing.name)
    if (empty) continue
    const text = textOf(typeId, raw)
    if (Either.isLeft(text)) return Either.left(text.left)
    const keep = typeId === before.TYPE_ID ? before.VALUE_TYPE : "WORK"
    const valueType = valueTypeOf(typeId, element.valueType ?? element.VALUE_TYPE, keep)
    if (Either.isLeft(valueType)) return Either.left(valueType.left)
    const after: Value = { ...before, TYPE_ID: typeId, VALUE_TYPE: valueType.right, VALUE: text.right }
    const list = lists.get(typeId)!
    if (typeId === existing.name) list.splice(existing.index, 0, after)
    else {
      list.push(after)
      list.sort((a, b) => (a.ID ?? 0) - (b.ID ?? 0))
    }
    touched.add(typeId)
  }
  const out: Record<string, ReadonlyArray<Value>> = {}
  for (const name of touched) out[name] = lists.get(name)!
  return Either.right(out)
}

/** The API's `fm`: every value of the item, in id order (as the vendor's examples show). */
export const present = (
  type: EntityTypes.EntityType,
  item: Readonly<Record<string, unknown>>,
): ReadonlyArray<{ id: number; valueType: string; value: string; typeId: string }> => {
  const out: Array<{ id: number; valueType: string; value: string; typeId: string }> = []
  for (const name of namesOf(type)) {
    const list = item[name]
    if (!Array.isArray(list)) continue
    for (const v of list as ReadonlyArray<Value>) {
      out.push({ id: v.ID ?? 0, valueType: v.VALUE_TYPE, value: v.VALUE, typeId: v.TYPE_ID })
    }
  }
  return out.sort((a, b) => a.id - b.id)
}
