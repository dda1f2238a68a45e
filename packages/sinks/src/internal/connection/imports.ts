/**
 * `create`: new items through `crm.item.batchImport`, at most 20 per request, each stamped with
 * its identity (`originatorId` + `originId`, or `xmlId`) so an interrupted call can be looked up.
 * Per-item errors come back as `Rejected`; a request refused as a whole is halved until the bad
 * item is alone. In a dry run nothing is sent and each item gets a fake negative id.
 */
import * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Target from "../../Target.js"
import * as History from "../history.js"
import * as Links from "./links.js"
import { type Prepared, prepareAll, prepareFields } from "./prepare.js"
import { asTarget, chunks, fieldOf, isObject, sinkName, splitOnRefusal } from "./requests.js"
import type { TypeFields } from "./typeFields.js"

/** Items per `crm.item.batchImport` (the portal refuses 21). */
export const batchSize = 20

/** The items of one import answer, one result each in the order sent. */
const results = (
  client: Bitrix24Client.Client,
  answer: Bitrix24Client.Answer,
  sent: number,
): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> => {
  const items =
    isObject(answer.result) && Array.isArray(answer.result.items) ? answer.result.items : undefined
  if (items === undefined || items.length !== sent) {
    return Effect.fail(
      new Sink.SinkError({
        sink: sinkName,
        reason: "ambiguous",
        code: "UNEXPECTED_ANSWER",
        message: `crm.item.batchImport on ${client.portal} answered ${items?.length ?? "no"} results for ${sent} items`,
      }),
    )
  }
  return Effect.succeed(
    items.map((r): Sink.ItemResult => {
      if (isObject(r) && isObject(r.item) && r.item.id !== undefined && r.item.id !== null) {
        return Sink.written(String(r.item.id))
      }
      const code = isObject(r) && typeof r.error === "string" ? r.error : "UNKNOWN_ERROR"
      const message =
        isObject(r) && typeof r.error_description === "string" ? r.error_description : "the portal gave no id"
      return Sink.rejected(code, message, fieldOf(message))
    }),
  )
}

/** One `crm.item.batchImport`; a request the portal refuses as a whole is split to find the bad item. */
const importBatch = (
  client: Bitrix24Client.Client,
  target: Target.Target,
  data: ReadonlyArray<Record<string, unknown>>,
): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> =>
  client
    .call("crm.item.batchImport", { entityTypeId: target.entityTypeId, data }, { idempotent: false })
    .pipe(
      Effect.flatMap((answer) => results(client, answer, data.length)),
      splitOnRefusal(data, (part) => importBatch(client, target, part), false),
    )

/**
 * An item's fields for the portal, with the identity the sink sets itself. Links without a value
 * are left out: a new item has none to clear.
 */
const prepareCreate = (
  target: Target.Target,
  originator: string,
  known: TypeFields,
  item: Sink.SinkItem,
): Prepared => {
  const prepared = prepareFields(item.fields, known)
  if (prepared._tag !== "Ok") return prepared
  const fields = Links.forCreate(prepared.fields)
  if (target.identity === "origin") {
    fields.originatorId = originator
    fields.originId = item.originId
  } else {
    fields.xmlId = Target.identityValue(target, originator, item.originId)
  }
  return { _tag: "Ok", fields }
}

/** The connection's `create`: one per connection, as it keeps the imported history's order. */
export const make = (
  client: Bitrix24Client.Client,
  options: { readonly originator: string; readonly dryRun: boolean },
  typeFields: (target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>,
): Sink.Connection<Target.Target>["create"] => {
  const { originator, dryRun } = options
  const history = History.tracker()
  let fakeIds = 0
  const fakeId = (): Sink.ItemResult => Sink.written(String(-++fakeIds))
  return (target0, items) =>
    Effect.gen(function* () {
      const target = yield* asTarget(target0)
      const known = yield* typeFields(target)
      const { results, ok, fieldsAt } = prepareAll(items, (item) =>
        prepareCreate(target, originator, known, item),
      )
      for (const batch of chunks(ok, batchSize)) {
        // An item whose createdTime would arrive out of order is refused here, saying why.
        const refusals = history.check(target.entityTypeId, batch.map(fieldsAt))
        const group = batch.filter((index, j) => {
          const refusal = refusals[j]
          if (refusal !== undefined) results[index] = refusal
          return refusal === undefined
        })
        if (group.length === 0) continue
        const answers = dryRun ? group.map(fakeId) : yield* importBatch(client, target, group.map(fieldsAt))
        group.forEach((index, j) => {
          const answer = History.explain(answers[j]!)
          results[index] = answer
          if (answer._tag === "Written") history.written(target.entityTypeId, fieldsAt(index))
        })
      }
      return results
    })
}
