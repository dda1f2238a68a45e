/**
 * `update`: existing items through `batch`, up to 50 `crm.item.update` commands per request.
 * Each command answers on its own (`result` or `result_error`); a request refused as a whole is
 * halved until the bad item is alone. History fields are left out: the portal sets them on import
 * only. In a dry run nothing is sent and each item answers its own id.
 */
import * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Fields from "../../Fields.js"
import type * as Target from "../../Target.js"
import * as Form from "../form.js"
import * as History from "../history.js"
import { prepareAll, prepareFields } from "./prepare.js"
import { asTarget, chunks, fieldOf, isObject, splitOnRefusal } from "./requests.js"

/** Commands per `batch`. */
export const batchSize = 50

interface Update {
  readonly id: string
  readonly fields: Record<string, unknown>
}

/**
 * `crm.item.update` takes multi-fields as `fm`: `[{ typeId: "PHONE", valueType: "WORK", value }]`
 * instead of import's top-level `PHONE: [{ VALUE, VALUE_TYPE }]`.
 */
export const toUpdateFields = (fields: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  const fm: Array<Record<string, unknown>> = []
  for (const [name, value] of Object.entries(fields)) {
    if ((Fields.multiFieldNames as ReadonlyArray<string>).includes(name) && Array.isArray(value)) {
      for (const entry of value as ReadonlyArray<Record<string, unknown>>) {
        fm.push({ typeId: name, valueType: String(entry.VALUE_TYPE ?? "WORK"), value: String(entry.VALUE) })
      }
      continue
    }
    out[name] = value
  }
  if (fm.length > 0) out.fm = fm
  return out
}

/** The commands' answers of one `batch`, one result each in the order sent. */
const results = (
  client: Bitrix24Client.Client,
  answer: Bitrix24Client.Answer,
  updates: ReadonlyArray<Update>,
): ReadonlyArray<Sink.ItemResult> => {
  const r = isObject(answer.result) ? answer.result : {}
  const part = (k: string): Record<string, unknown> =>
    isObject(r[k]) ? (r[k] as Record<string, unknown>) : {}
  const ok = part("result")
  const errors = part("result_error")
  const times = part("result_time")
  // The commands spend crm.item.update's budget, which the batch's own `time` does not show;
  // the last command's figure is the latest.
  const lastTime = times[`u${updates.length - 1}`]
  if (isObject(lastTime)) client.operating.record("crm.item.update", lastTime)
  return updates.map((u, i): Sink.ItemResult => {
    const key = `u${i}`
    const error = errors[key]
    if (isObject(error)) {
      const message = typeof error.error_description === "string" ? error.error_description : ""
      return Sink.rejected(String(error.error ?? "UNKNOWN_ERROR"), message, fieldOf(message))
    }
    if (ok[key] !== undefined) return Sink.written(u.id)
    return Sink.rejected("NO_RESULT", "the batch answered neither a result nor an error for this item")
  })
}

/** One `batch` of `crm.item.update` commands; split when the portal refuses it as a whole. */
const updateBatch = (
  client: Bitrix24Client.Client,
  target: Target.Target,
  updates: ReadonlyArray<Update>,
): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> => {
  const cmd: Record<string, string> = {}
  updates.forEach((u, i) => {
    cmd[`u${i}`] =
      `crm.item.update?${Form.encode({ entityTypeId: target.entityTypeId, id: u.id, fields: toUpdateFields(u.fields) })}`
  })
  return client
    .call("batch", { halt: 0, cmd }, { idempotent: true, budgetMethods: ["crm.item.update"] })
    .pipe(
      Effect.map((answer) => results(client, answer, updates)),
      splitOnRefusal(updates, (part) => updateBatch(client, target, part), true),
    )
}

/** The connection's `update`. */
export const make =
  (
    client: Bitrix24Client.Client,
    options: { readonly dryRun: boolean },
  ): Sink.Connection<Target.Target>["update"] =>
  (target0, items) =>
    Effect.gen(function* () {
      const target = yield* asTarget(target0)
      // History fields are set on import only; an update leaves them as imported.
      const { results, ok, fieldsAt } = prepareAll(items, (item) =>
        prepareFields(History.withoutHistory(item.fields)),
      )
      for (const group of chunks(ok, batchSize)) {
        const answers = options.dryRun
          ? group.map((i) => Sink.written(items[i]!.targetId))
          : yield* updateBatch(
              client,
              target,
              group.map((i) => ({ id: items[i]!.targetId, fields: fieldsAt(i) })),
            )
        group.forEach((index, j) => {
          results[index] = answers[j]!
        })
      }
      return results
    })
