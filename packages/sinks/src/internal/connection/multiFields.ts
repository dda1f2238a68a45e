/**
 * Phones, e-mails, websites and messengers on update, sent as a diff against the portal's values.
 *
 * `crm.item.update` takes them as `fm`, keyed by the value's id: an id of the item's own value
 * changes it, with an empty value removes it, and a value without an existing id is added while
 * the item's other values stay (the vendor's `crm.item.update` page). Sending the source's list
 * without ids would add every value again on every sync, so the sink reads the item's values
 * first (`crm.item.list` with `select: ["*"]`, the only select that shows `fm`) and sends only
 * the difference.
 *
 * Per item and type the existing values, in id order, are paired with the source's in the
 * source's order: a pair already equal is left alone, a differing pair is changed by id, surplus
 * existing values are removed and surplus source values added (they get higher ids). The portal's
 * order, which is id order, then follows the source's (the primary value first), and a second run
 * over the same source finds nothing to send.
 */
import type * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Fields from "../../Fields.js"
import type * as Target from "../../Target.js"
import { chunks, isObject, toSinkError } from "./requests.js"

/** One of an item's multi-field values as the portal shows it in `fm`. */
export interface Existing {
  readonly id: number
  readonly typeId: string
  readonly valueType: string
  readonly value: string
}

/** One element of `fm` on `crm.item.update`. */
export interface FmElement {
  readonly typeId: string
  readonly valueType?: string
  readonly value: string
}

/** Ids per `@id` filter: one `crm.item.list` page. */
export const readSize = 50

/** Whether the fields hold a multi-field (`PHONE`, `EMAIL`, `WEB`, `IM`), a list or null. */
export const hasMultiFields = (fields: Readonly<Record<string, unknown>>): boolean =>
  Fields.multiFieldNames.some((name) => name in fields)

const sourceValues = (raw: unknown): ReadonlyArray<{ readonly value: string; readonly valueType: string }> =>
  Array.isArray(raw)
    ? raw.flatMap((e) =>
        isObject(e) && e.VALUE !== undefined && e.VALUE !== null && String(e.VALUE) !== ""
          ? [{ value: String(e.VALUE), valueType: String(e.VALUE_TYPE ?? "WORK").toUpperCase() }]
          : [],
      )
    : []

/**
 * The `fm` of an update: for each multi-field the fields hold (a list, or null for none), what
 * turns the item's `existing` values into the source's. Keys are value ids, or `n0`, `n1`... for
 * new values. Empty when the portal already has the source's values.
 */
export const diff = (
  fields: Readonly<Record<string, unknown>>,
  existing: ReadonlyArray<Existing>,
): Record<string, FmElement> => {
  const fm: Record<string, FmElement> = {}
  let added = 0
  for (const typeId of Fields.multiFieldNames) {
    if (!(typeId in fields)) continue
    const wanted = sourceValues(fields[typeId])
    const have = existing.filter((e) => e.typeId === typeId).sort((a, b) => a.id - b.id)
    const n = Math.max(wanted.length, have.length)
    for (let i = 0; i < n; i++) {
      const w = wanted[i]
      const h = have[i]
      if (h === undefined) fm[`n${added++}`] = { typeId, valueType: w!.valueType, value: w!.value }
      else if (w === undefined) fm[String(h.id)] = { typeId, value: "" }
      else if (h.value !== w.value || h.valueType.toUpperCase() !== w.valueType)
        fm[String(h.id)] = { typeId, valueType: w.valueType, value: w.value }
    }
  }
  return fm
}

const existingOf = (raw: unknown): ReadonlyArray<Existing> =>
  Array.isArray(raw)
    ? raw.flatMap((e) =>
        isObject(e) && Number.isFinite(Number(e.id))
          ? [
              {
                id: Number(e.id),
                typeId: String(e.typeId ?? e.TYPE_ID ?? "").toUpperCase(),
                valueType: String(e.valueType ?? e.VALUE_TYPE ?? ""),
                value: String(e.value ?? e.VALUE ?? ""),
              },
            ]
          : [],
      )
    : []

/**
 * The multi-field values of the items `ids` (item id -> values), one `crm.item.list` per 50 ids.
 * An id the portal does not list has none; its update then answers the portal's own error.
 */
export const read = (
  client: Bitrix24Client.Client,
  target: Target.Target,
  ids: ReadonlyArray<string>,
): Effect.Effect<ReadonlyMap<string, ReadonlyArray<Existing>>, Sink.SinkError> =>
  Effect.gen(function* () {
    const out = new Map<string, ReadonlyArray<Existing>>()
    for (const part of chunks([...new Set(ids)], readSize)) {
      const answer = yield* client
        .call("crm.item.list", {
          entityTypeId: target.entityTypeId,
          // crm.item.list shows `fm` only with "*"; it cannot be named in `select`.
          select: ["id", "*"],
          filter: { "@id": part },
          order: { id: "ASC" },
          start: -1,
        })
        .pipe(Effect.mapError((e) => toSinkError(e, true)))
      const items = isObject(answer.result) && Array.isArray(answer.result.items) ? answer.result.items : []
      for (const item of items) if (isObject(item)) out.set(String(item.id), existingOf(item.fm))
    }
    return out
  })
