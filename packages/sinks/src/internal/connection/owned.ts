/**
 * `listOwned` and `readOwned`: every item of a type that carries the pipeline's originator, for
 * `relink`, for a run that adopts what its empty id map forgot, and (with the items' values) for
 * `verify`. `crm.item.list` filtered by `=originatorId` (by `xmlId` containing `<originator>:` for
 * invoices and smart processes, checked as a prefix here), `order {id: "ASC"}`, `>id` paging with
 * `start: -1` (no total count), 50 per page, through the client's rate limiter. Pages are asked
 * as the stream is pulled: the first item costs one request.
 */
import * as Sink from "@b24etl/core/Sink"
import { Chunk, Duration, Effect, Option, Stream } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Fields from "../../Fields.js"
import * as RateLimiter from "../../RateLimiter.js"
import * as Target from "../../Target.js"
import { pageSize } from "./find.js"
import { asTarget, isObject, sinkName, toSinkError } from "./requests.js"
import type { TypeFields } from "./typeFields.js"

/** The owned items of one page, and the id the next page starts after (none after the last). */
const page = <A>(
  client: Bitrix24Client.Client,
  target: Target.Target,
  originator: string,
  select: ReadonlyArray<string>,
  toItem: (owned: Sink.OwnedItem, row: Record<string, unknown>) => A,
  afterId: number,
): Effect.Effect<readonly [Chunk.Chunk<A>, Option.Option<number>], Sink.SinkError> =>
  Effect.gen(function* () {
    const prefix = `${originator}:`
    const filter: Record<string, unknown> =
      target.identity === "origin" ? { "=originatorId": originator } : { "%xmlId": prefix }
    if (afterId > 0) filter[">id"] = afterId
    const answer = yield* client
      .call("crm.item.list", {
        entityTypeId: target.entityTypeId,
        select,
        filter,
        order: { id: "ASC" },
        start: -1,
      })
      .pipe(Effect.mapError((e) => toSinkError(e, true)))
    const rows = isObject(answer.result) && Array.isArray(answer.result.items) ? answer.result.items : []
    const owned: Array<A> = []
    let lastId = afterId
    for (const row of rows) {
      if (!isObject(row)) continue
      const id = Number(row.id)
      if (Number.isFinite(id) && id > lastId) lastId = id
      if (target.identity === "origin") {
        // The filter already holds the originator; a portal that ignored it must not hand over others' items.
        if (row.originatorId !== undefined && row.originatorId !== originator) continue
        if (typeof row.originId !== "string" || row.originId === "") continue
        owned.push(toItem({ originId: row.originId, targetId: String(row.id) }, row))
      } else {
        if (typeof row.xmlId !== "string" || !row.xmlId.startsWith(prefix)) continue
        owned.push(toItem({ originId: row.xmlId.slice(prefix.length), targetId: String(row.id) }, row))
      }
    }
    const more = rows.length >= pageSize && lastId > afterId
    return [Chunk.fromIterable(owned), more ? Option.some(lastId) : Option.none()] as const
  })

const identitySelect = (target: Target.Target): ReadonlyArray<string> =>
  target.identity === "origin" ? ["id", "originatorId", "originId"] : ["id", "xmlId"]

/** Every owned item of `target`, as `toItem` makes it of its row, paged as the stream is pulled. */
const owned = <A>(
  client: Bitrix24Client.Client,
  originator: string,
  typeFields: (target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>,
  target0: Sink.Target,
  select: (target: Target.Target) => ReadonlyArray<string>,
  toItem: (owned: Sink.OwnedItem, row: Record<string, unknown>) => A,
): Stream.Stream<A, Sink.SinkError> =>
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
      const fields = select(target)
      return Stream.paginateChunkEffect(0, (afterId) =>
        page(client, target, originator, fields, toItem, afterId),
      )
    }),
  )

/** The connection's `listOwned`. */
export const make =
  (
    client: Bitrix24Client.Client,
    originator: string,
    typeFields: (target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>,
  ): NonNullable<Sink.Connection<Target.Target>["listOwned"]> =>
  (target) =>
    owned(client, originator, typeFields, target, identitySelect, (item) => item)

/**
 * A row's multi-field values as a mapping writes them (`[{ VALUE, VALUE_TYPE }]`), from `fm`
 * (what `select: ["*"]` shows), or from the upper-case field an older portal answers.
 */
const multiValues = (row: Record<string, unknown>, name: Fields.MultiFieldName): unknown => {
  const fm = Array.isArray(row.fm) ? row.fm : undefined
  const raw =
    fm === undefined
      ? row[name]
      : fm.filter((e) => isObject(e) && String(e.typeId ?? e.TYPE_ID ?? "").toUpperCase() === name)
  if (!Array.isArray(raw)) return raw === undefined ? undefined : []
  return raw.flatMap((e) =>
    isObject(e)
      ? [{ VALUE: e.value ?? e.VALUE, VALUE_TYPE: String(e.valueType ?? e.VALUE_TYPE ?? "").toUpperCase() }]
      : [],
  )
}

/**
 * The connection's `readOwned`: the owned items with the values of `fields`. `crm.item.list`
 * shows multi-fields (`fm`) only with `select: ["*"]` (the vendor's `crm.item.list` page), so a
 * mapping with phones or e-mails reads every field; otherwise only the fields named.
 */
export const makeRead =
  (
    client: Bitrix24Client.Client,
    originator: string,
    typeFields: (target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>,
  ): NonNullable<Sink.Connection<Target.Target>["readOwned"]> =>
  (target, fields) => {
    const multi = fields.filter((f): f is Fields.MultiFieldName =>
      (Fields.multiFieldNames as ReadonlyArray<string>).includes(f),
    )
    const select = (t: Target.Target) =>
      multi.length > 0 ? ["*"] : [...new Set([...identitySelect(t), ...fields])]
    return owned(client, originator, typeFields, target, select, (item, row) => {
      const values: Record<string, unknown> = {}
      for (const name of fields)
        values[name] = multi.includes(name as Fields.MultiFieldName)
          ? multiValues(row, name as Fields.MultiFieldName)
          : row[name]
      return { ...item, fields: values }
    })
  }

/**
 * What `readOwned` costs: a page per 50 items and one more to see the last page end, plus the
 * type's fields once per target, at the client's rate after its burst.
 */
export const readCost =
  (client: Bitrix24Client.Client): NonNullable<Sink.Connection<Target.Target>["readCost"]> =>
  (itemsPerTarget) => {
    const requests = itemsPerTarget.reduce((n, items) => n + Math.floor(items / pageSize) + 2, 0)
    const limits = client.limits
    const duration =
      limits.burst === 0
        ? Duration.zero
        : Duration.millis((Math.max(0, requests - limits.burst) / limits.rate) * 1000)
    return {
      requests,
      duration,
      how: `crm.item.list, ${pageSize} items a page, ${RateLimiter.describe(limits)}`,
    }
  }
