/**
 * `update`: existing items through `batch`, up to 50 `crm.item.update` commands per request.
 * Each command answers on its own (`result` or `result_error`); a request refused as a whole is
 * halved until the bad item is alone. Multi-fields are sent as a diff against the item's current
 * values (`multiFields.ts`), links without a value as cleared (`links.ts`). History fields are
 * left out: the portal sets them on import only. In a dry run nothing is sent and each item
 * answers its own id.
 */
import * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Fields from "../../Fields.js"
import type * as Target from "../../Target.js"
import * as History from "../history.js"
import * as Commands from "./commands.js"
import * as Links from "./links.js"
import * as MultiFields from "./multiFields.js"
import { prepareAll, prepareFields } from "./prepare.js"
import { asTarget, chunks, fieldOf, splitOnRefusal } from "./requests.js"
import type { TypeFields } from "./typeFields.js"

/** Commands per `batch`. */
export const batchSize = Commands.batchSize

interface Update {
  readonly id: string
  /** The fields as `crm.item.update` takes them (multi-fields already as `fm`). */
  readonly fields: Record<string, unknown>
}

/**
 * The fields of `crm.item.update`: multi-fields (`PHONE: [{ VALUE, VALUE_TYPE }]`, or null for
 * none) become `fm`, the difference from the item's `existing` values keyed by value id (`n0`...
 * for new ones), left out when there is none; everything else as given.
 */
export const toUpdateFields = (
  fields: Readonly<Record<string, unknown>>,
  existing: ReadonlyArray<MultiFields.Existing> = [],
): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(fields)) {
    if (!(Fields.multiFieldNames as ReadonlyArray<string>).includes(name)) out[name] = value
  }
  const fm = MultiFields.diff(fields, existing)
  if (Object.keys(fm).length > 0) out.fm = fm
  return out
}

/** One `batch` of `crm.item.update` commands; split when the portal refuses it as a whole. */
const updateBatch = (
  client: Bitrix24Client.Client,
  target: Target.Target,
  updates: ReadonlyArray<Update>,
): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> =>
  Commands.send(
    client,
    "crm.item.update",
    updates.map((u) => ({ entityTypeId: target.entityTypeId, id: u.id, fields: u.fields })),
  ).pipe(
    Effect.map((answers) =>
      answers.map((a, i): Sink.ItemResult => {
        if (a._tag === "Ok") return Sink.written(updates[i]!.id)
        if (a._tag === "Error") return Sink.rejected(a.code, a.message, fieldOf(a.message))
        return Sink.rejected("NO_RESULT", "the batch answered neither a result nor an error for this item")
      }),
    ),
    splitOnRefusal(updates, (part) => updateBatch(client, target, part), true),
  )

/** The connection's `update`. */
export const make =
  (
    client: Bitrix24Client.Client,
    options: { readonly dryRun: boolean },
    typeFields: (target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>,
  ): Sink.Connection<Target.Target>["update"] =>
  (target0, items) =>
    Effect.gen(function* () {
      const target = yield* asTarget(target0)
      const known = yield* typeFields(target)
      // History fields are set on import only; an update leaves them as imported.
      const { results, ok, fieldsAt } = prepareAll(items, (item) => {
        const prepared = prepareFields(History.withoutHistory(item.fields), known)
        return prepared._tag === "Ok" ? { _tag: "Ok", fields: Links.forUpdate(prepared.fields) } : prepared
      })
      for (const group of chunks(ok, batchSize)) {
        if (options.dryRun) {
          for (const i of group) results[i] = Sink.written(items[i]!.targetId)
          continue
        }
        const withMultiFields = group.filter((i) => MultiFields.hasMultiFields(fieldsAt(i)))
        const current =
          withMultiFields.length === 0
            ? new Map<string, ReadonlyArray<MultiFields.Existing>>()
            : yield* MultiFields.read(
                client,
                target,
                withMultiFields.map((i) => items[i]!.targetId),
              )
        const send: Array<{ readonly index: number; readonly update: Update }> = []
        for (const index of group) {
          const id = items[index]!.targetId
          const existing = current.get(id)
          const fields = toUpdateFields(fieldsAt(index), existing)
          // Only multi-fields that already equal the portal's: nothing to write. An item the read
          // did not find is sent anyway, for the portal to answer that it does not exist.
          if (Object.keys(fields).length === 0 && existing !== undefined) results[index] = Sink.written(id)
          else send.push({ index, update: { id, fields } })
        }
        if (send.length === 0) continue
        const answers = yield* updateBatch(
          client,
          target,
          send.map((s) => s.update),
        )
        send.forEach((s, j) => {
          results[s.index] = answers[j]!
        })
      }
      return results
    })
