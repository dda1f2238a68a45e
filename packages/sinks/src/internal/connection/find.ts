/**
 * `find`: the items an interrupted `create` may have made, looked up by the identity the sink
 * stamps on them, through `crm.item.list` with 50 values per `@` filter, paged by `>id`. The
 * lowest id wins when an earlier tool made duplicates.
 */
import type * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Target from "../../Target.js"
import { asTarget, chunks, isObject, toSinkError } from "./requests.js"
import type { TypeFields } from "./typeFields.js"

/** Items per `crm.item.list` page, and ids per `@` filter. */
export const pageSize = 50

/** The identity values of one filter, paged by `>id`, into `found` (originId -> item id). */
const findPages = (
  client: Bitrix24Client.Client,
  target: Target.Target,
  originator: string,
  byValue: ReadonlyMap<string, string>,
  values: ReadonlyArray<string>,
  found: Map<string, string>,
): Effect.Effect<void, Sink.SinkError> =>
  Effect.gen(function* () {
    const field = Target.identityField(target)
    let lastId = 0
    for (;;) {
      const filter: Record<string, unknown> =
        target.identity === "origin"
          ? { "=originatorId": originator, "@originId": values }
          : { "@xmlId": values }
      if (lastId > 0) filter[">id"] = lastId
      const answer = yield* client
        .call("crm.item.list", {
          entityTypeId: target.entityTypeId,
          select: target.identity === "origin" ? ["id", "originatorId", "originId"] : ["id", "xmlId"],
          filter,
          order: { id: "ASC" },
          start: -1,
        })
        .pipe(Effect.mapError((e) => toSinkError(e, true)))
      const page = isObject(answer.result) && Array.isArray(answer.result.items) ? answer.result.items : []
      for (const row of page) {
        if (!isObject(row)) continue
        const id = Number(row.id)
        if (Number.isFinite(id) && id > lastId) lastId = id
        if (target.identity === "origin" && row.originatorId !== undefined && row.originatorId !== originator)
          continue
        const originId = byValue.get(String(row[field] ?? ""))
        // The lowest id wins when an earlier tool made duplicates.
        if (originId !== undefined && !found.has(originId)) found.set(originId, String(row.id))
      }
      if (page.length < pageSize) break
    }
  })

/** The connection's `find`. */
export const make =
  (
    client: Bitrix24Client.Client,
    originator: string,
    typeFields: (target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>,
  ): Sink.Connection<Target.Target>["find"] =>
  (target0, items) =>
    Effect.gen(function* () {
      const target = yield* asTarget(target0)
      const found = new Map<string, string>()
      if (items.length === 0) return found
      const known = yield* typeFields(target)
      // A portal that does not keep the identity field would ignore the filter and list everything.
      if (!known.byName.has(Target.identityField(target))) return found
      const byValue = new Map<string, string>()
      for (const item of items)
        byValue.set(Target.identityValue(target, originator, item.originId), item.originId)
      for (const values of chunks([...byValue.keys()], pageSize)) {
        yield* findPages(client, target, originator, byValue, values, found)
      }
      return found
    })
