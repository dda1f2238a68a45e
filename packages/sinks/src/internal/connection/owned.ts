/**
 * `listOwned`: every item of a type that carries the pipeline's originator, for `relink` and for
 * a run that adopts what its empty id map forgot. `crm.item.list` filtered by `=originatorId`
 * (by `xmlId` containing `<originator>:` for invoices and smart processes, checked as a prefix
 * here), selecting only the id and the identity, `order {id: "ASC"}`, `>id` paging with
 * `start: -1` (no total count), 50 per page, through the client's rate limiter. Pages are asked
 * as the stream is pulled: the first item costs one request.
 */
import * as Sink from "@b24etl/core/Sink"
import { Chunk, Effect, Option, Stream } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Target from "../../Target.js"
import { pageSize } from "./find.js"
import { asTarget, isObject, sinkName, toSinkError } from "./requests.js"
import type { TypeFields } from "./typeFields.js"

/** The owned items of one page, and the id the next page starts after (none after the last). */
const page = (
  client: Bitrix24Client.Client,
  target: Target.Target,
  originator: string,
  afterId: number,
): Effect.Effect<readonly [Chunk.Chunk<Sink.OwnedItem>, Option.Option<number>], Sink.SinkError> =>
  Effect.gen(function* () {
    const prefix = `${originator}:`
    const filter: Record<string, unknown> =
      target.identity === "origin" ? { "=originatorId": originator } : { "%xmlId": prefix }
    if (afterId > 0) filter[">id"] = afterId
    const answer = yield* client
      .call("crm.item.list", {
        entityTypeId: target.entityTypeId,
        select: target.identity === "origin" ? ["id", "originatorId", "originId"] : ["id", "xmlId"],
        filter,
        order: { id: "ASC" },
        start: -1,
      })
      .pipe(Effect.mapError((e) => toSinkError(e, true)))
    const rows = isObject(answer.result) && Array.isArray(answer.result.items) ? answer.result.items : []
    const owned: Array<Sink.OwnedItem> = []
    let lastId = afterId
    for (const row of rows) {
      if (!isObject(row)) continue
      const id = Number(row.id)
      if (Number.isFinite(id) && id > lastId) lastId = id
      if (target.identity === "origin") {
        // The filter already holds the originator; a portal that ignored it must not hand over others' items.
        if (row.originatorId !== undefined && row.originatorId !== originator) continue
        if (typeof row.originId !== "string" || row.originId === "") continue
        owned.push({ originId: row.originId, targetId: String(row.id) })
      } else {
        if (typeof row.xmlId !== "string" || !row.xmlId.startsWith(prefix)) continue
        owned.push({ originId: row.xmlId.slice(prefix.length), targetId: String(row.id) })
      }
    }
    const more = rows.length >= pageSize && lastId > afterId
    return [Chunk.fromIterable(owned), more ? Option.some(lastId) : Option.none()] as const
  })

/** The connection's `listOwned`. */
export const make =
  (
    client: Bitrix24Client.Client,
    originator: string,
    typeFields: (target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>,
  ): NonNullable<Sink.Connection<Target.Target>["listOwned"]> =>
  (target0) =>
    Stream.unwrap(
      Effect.gen(function* () {
        const target = yield* asTarget(target0)
        const known = yield* typeFields(target)
        // A portal that does not keep the identity field would ignore the filter and list everything;
        // answering "none" instead would let relink forget an id map the portal cannot rebuild.
        if (!known.byName.has(Target.identityField(target))) {
          return yield* new Sink.SinkError({
            sink: sinkName,
            reason: "fatal",
            code: "NO_IDENTITY_FIELD",
            message: `${client.portal} does not keep ${Target.identityField(target)} on ${target.name} items (crm.item.fields has no such field), so the items of originator "${originator}" cannot be listed`,
          })
        }
        return Stream.paginateChunkEffect(0, (afterId) => page(client, target, originator, afterId))
      }),
    )
