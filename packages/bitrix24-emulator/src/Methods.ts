/**
 * The REST methods the emulator serves (except `batch`, which the dispatcher runs because it calls
 * the others): `crm.item.*`, `crm.type.list` and `profile`. Each is a pure function of the portal's
 * state and the request's parameters.
 */
import { Either } from "effect"
import * as EntityTypes from "./EntityTypes.js"
import * as Items from "./internal/items.js"
import * as Query from "./internal/query.js"
import * as V from "./internal/values.js"
import * as RestError from "./RestError.js"
import type * as Store from "./Store.js"

/** What a method sees of the portal and the caller. */
export interface CallContext {
  readonly store: Store.Store
  readonly user: { readonly id: number; readonly isAdmin: boolean; readonly name: string }
  readonly nowMs: number
  /** Refuse imports whose `createdTime` is before an earlier import's (default true). */
  readonly strictImportOrder: boolean
  /** The portal's default currency. */
  readonly currency: string
}

/** A method's answer: `result`, and for lists `total`/`next`; `items` is what operating time is charged for. */
export interface Outcome {
  readonly result: unknown
  readonly total?: number
  readonly next?: number
  readonly items: number
}

export interface Method {
  /** Write methods are the ones connection-reset faults apply to. */
  readonly write: boolean
  readonly run: (
    ctx: CallContext,
    method: string,
    params: Record<string, unknown>,
  ) => Either.Either<Outcome, RestError.RestError>
}

/** Items per page of `crm.item.list`, fixed by the portal. */
export const pageSize = 50

/** The most items one `crm.item.batchImport` accepts. */
export const maxImportBatch = 20

const entityType = (
  ctx: CallContext,
  params: Record<string, unknown>,
): Either.Either<EntityTypes.EntityType, RestError.RestError> => {
  const raw = params.entityTypeId ?? params.ENTITY_TYPE_ID
  if (raw === undefined || raw === null || raw === "")
    return Either.left(RestError.missingParameter("entityTypeId"))
  const id = V.toId(raw)
  const type = id === undefined ? undefined : ctx.store.types.get(id)
  return type === undefined ? Either.left(RestError.typeNotFound()) : Either.right(type)
}

const itemId = (params: Record<string, unknown>): Either.Either<number, RestError.RestError> => {
  if (params.id === undefined || params.id === null || params.id === "") {
    return Either.left(RestError.missingParameter("id"))
  }
  const id = V.toId(params.id)
  return id === undefined ? Either.left(RestError.itemNotFound()) : Either.right(id)
}

const writeContext = (
  ctx: CallContext,
  type: EntityTypes.EntityType,
  method: string,
  mode: Items.Mode,
): Items.WriteContext => ({
  store: ctx.store,
  type,
  method,
  mode,
  user: ctx.user,
  nowMs: ctx.nowMs,
  strictImportOrder: ctx.strictImportOrder,
  currency: ctx.currency,
})

const uf = (params: Record<string, unknown>) => V.isYes(params.useOriginalUfNames)

const selectOf = (params: Record<string, unknown>): ReadonlyArray<string> | undefined =>
  V.isIterable(params.select) ? V.toList(params.select).map(String) : undefined

/** Whole-request failures of a single-item write: the portal answers them with HTTP 400. */
const single = (
  created: Either.Either<Store.Item, RestError.RestError>,
  present: (item: Store.Item) => unknown,
): Either.Either<Outcome, RestError.RestError> =>
  Either.map(created, (item) => ({ result: { item: present(item) }, items: 1 }))

const importOne: Method = {
  write: true,
  run: (ctx, method, params) =>
    Either.gen(function* () {
      const type = yield* entityType(ctx, params)
      if (params.fields === undefined) return yield* Either.left(RestError.missingParameter("fields"))
      const item = yield* Items.create(writeContext(ctx, type, method, "import"), params.fields)
      return { result: { item: { id: item.id } }, items: 1 }
    }),
}

const batchImport: Method = {
  write: true,
  run: (ctx, method, params) =>
    Either.gen(function* () {
      const type = yield* entityType(ctx, params)
      if (params.data === undefined) return yield* Either.left(RestError.missingParameter("data"))
      if (!V.isIterable(params.data)) return yield* Either.left(RestError.notIterable(V.phpType(params.data)))
      const data = V.toList(params.data)
      if (data.length > maxImportBatch) return yield* Either.left(RestError.maxImportBatchSizeExceeded())
      const wctx = writeContext(ctx, type, method, "import")
      // A malformed request (a scalar where a multiple field needs a list) fails the whole call, as on
      // the portal; per-item validation errors come back index-aligned.
      for (const fields of data) {
        const prepared = Items.prepare(wctx, fields, { recordIgnored: false })
        if (Either.isLeft(prepared) && prepared.left.code === "100") return yield* Either.left(prepared.left)
      }
      const items = data.map((fields) =>
        Either.match(Items.create(wctx, fields), {
          onLeft: (e) => e.body,
          onRight: (item) => ({ item: { id: item.id } }),
        }),
      )
      return { result: { items }, items: data.length }
    }),
}

const add: Method = {
  write: true,
  run: (ctx, method, params) =>
    Either.gen(function* () {
      const type = yield* entityType(ctx, params)
      if (params.fields === undefined) return yield* Either.left(RestError.missingParameter("fields"))
      const created = Items.create(writeContext(ctx, type, method, "add"), params.fields)
      return yield* single(created, (item) => Items.present(type, item, undefined, uf(params)))
    }),
}

const update: Method = {
  write: true,
  run: (ctx, method, params) =>
    Either.gen(function* () {
      const type = yield* entityType(ctx, params)
      const id = yield* itemId(params)
      if (params.fields === undefined) return yield* Either.left(RestError.missingParameter("fields"))
      const updated = Items.update(writeContext(ctx, type, method, "update"), id, params.fields)
      return yield* single(updated, (item) => Items.present(type, item, undefined, uf(params)))
    }),
}

const get: Method = {
  write: false,
  run: (ctx, _method, params) =>
    Either.gen(function* () {
      const type = yield* entityType(ctx, params)
      const id = yield* itemId(params)
      const item = ctx.store.get(type.entityTypeId, id)
      if (item === undefined) return yield* Either.left(RestError.itemNotFound())
      return { result: { item: Items.present(type, item, undefined, uf(params)) }, items: 0 }
    }),
}

const remove: Method = {
  write: true,
  run: (ctx, _method, params) =>
    Either.gen(function* () {
      const type = yield* entityType(ctx, params)
      const id = yield* itemId(params)
      if (!ctx.store.delete(type.entityTypeId, id)) return yield* Either.left(RestError.itemNotFound())
      return { result: [], items: 1 }
    }),
}

const list: Method = {
  write: false,
  run: (ctx, _method, params) =>
    Either.gen(function* () {
      const type = yield* entityType(ctx, params)
      const conditions = Query.parseFilter(type, params.filter)
      const order = Query.parseOrder(type, params.order)
      const start = V.toInt(params.start) ?? 0
      const source =
        Query.candidates(ctx.store, type.entityTypeId, conditions) ?? ctx.store.iterate(type.entityTypeId)
      const matched: Array<Store.Item> = []
      const unordered =
        order.length === 0 || (order.length === 1 && order[0]!.field === "id" && !order[0]!.desc)
      for (const item of source) {
        if (conditions.every((c) => Query.matches(item, c))) {
          matched.push(item)
          // Without a total to count and in id order, the first page is all that is needed.
          if (start < 0 && unordered && matched.length >= pageSize) break
        }
      }
      const sorted = Query.sort(matched, order)
      const offset = Math.max(0, start)
      const page = sorted.slice(offset, offset + pageSize)
      const select = selectOf(params)
      const items = page.map((item) => Items.present(type, item, select, uf(params)))
      if (start < 0) return { result: { items }, items: 0 }
      const next = offset + pageSize < sorted.length ? offset + pageSize : undefined
      return {
        result: { items },
        total: sorted.length,
        ...(next === undefined ? {} : { next }),
        items: 0,
      }
    }),
}

const fields: Method = {
  write: false,
  run: (ctx, _method, params) =>
    Either.gen(function* () {
      const type = yield* entityType(ctx, params)
      const out: Record<string, unknown> = {}
      const original = uf(params)
      for (const f of type.fields.values()) {
        out[original && f.isDynamic ? f.upperName : f.name] = EntityTypes.describe(f)
      }
      return { result: { fields: out }, items: 0 }
    }),
}

const typeList: Method = {
  write: false,
  run: (ctx) => {
    const types = [...ctx.store.types.values()]
      .filter((t) => t.isDynamic)
      .map((t, i) => ({
        id: i + 1,
        entityTypeId: t.entityTypeId,
        title: t.title,
        code: "",
        createdBy: 1,
        isCategoriesEnabled: "Y",
        isStagesEnabled: "Y",
        isClientEnabled: "Y",
        isUseInUserfieldEnabled: "Y",
        isLinkWithProductsEnabled: "Y",
        isObserversEnabled: "Y",
        isBeginCloseDatesEnabled: "Y",
        relations: {
          parent: t.parents.map((p) => ({ entityTypeId: p, isChildrenListEnabled: "Y" })),
          child: [...ctx.store.types.values()]
            .filter((c) => c.parents.includes(t.entityTypeId))
            .map((c) => ({ entityTypeId: c.entityTypeId, isChildrenListEnabled: "Y" })),
        },
      }))
    return Either.right({ result: { types }, total: types.length, items: 0 })
  },
}

const profile: Method = {
  write: false,
  run: (ctx) =>
    Either.right({
      result: {
        ID: String(ctx.user.id),
        ADMIN: ctx.user.isAdmin,
        NAME: ctx.user.name,
        LAST_NAME: "",
        PERSONAL_GENDER: "",
        TIME_ZONE: "UTC",
        TIME_ZONE_OFFSET: 0,
      },
      items: 0,
    }),
}

/** Method names are case-insensitive on the portal; keys here are lower case. */
export const methods: ReadonlyMap<string, Method> = new Map([
  ["crm.item.import", importOne],
  ["crm.item.batchimport", batchImport],
  ["crm.item.add", add],
  ["crm.item.update", update],
  ["crm.item.get", get],
  ["crm.item.list", list],
  ["crm.item.delete", remove],
  ["crm.item.fields", fields],
  ["crm.type.list", typeList],
  ["profile", profile],
])
