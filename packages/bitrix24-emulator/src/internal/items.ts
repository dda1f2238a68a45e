/**
 * Turning a request's `fields` into a stored item, with the portal's rules: unknown fields ignored
 * (and recorded), links checked against existing items, multi-fields validated, defaults filled,
 * and the import rules for `createdTime` and friends.
 */
import { Either } from "effect"
import type * as EntityTypes from "../EntityTypes.js"
import * as RestError from "../RestError.js"
import type * as Store from "../Store.js"
import * as Links from "./links.js"
import * as MultiFields from "./multiFields.js"
import * as V from "./values.js"

export type Mode = "import" | "add" | "update"

export interface WriteContext {
  readonly store: Store.Store
  readonly type: EntityTypes.EntityType
  readonly method: string
  readonly mode: Mode
  readonly user: { readonly id: number; readonly isAdmin: boolean }
  readonly nowMs: number
  readonly strictImportOrder: boolean
  readonly currency: string
}

const resolveName = (type: EntityTypes.EntityType, key: string): string | undefined => {
  if (type.fields.has(key)) return key
  if (key.startsWith("UF_") || key.startsWith("PARENT_ID_")) return type.byUpperName.get(key)
  return undefined
}

type Result = Either.Either<Record<string, unknown>, RestError.RestError>

const coerce = (f: EntityTypes.FieldDescription, value: unknown): unknown => {
  if (value === null || value === undefined) return null
  switch (f.type) {
    case "integer":
    case "user":
    case "crm_category":
    case "crm_lead":
    case "crm_deal":
    case "crm_quote":
    case "employee":
      return V.toInt(value) ?? value
    case "double":
      return typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))
        ? Number(value)
        : value
    case "boolean":
      return f.isDynamic ? value : V.toYN(value)
    default:
      return value
  }
}

const checkLink = (ctx: WriteContext, f: EntityTypes.FieldDescription, value: unknown): boolean => {
  const id = V.toId(value)
  return id !== undefined && ctx.store.has(f.linkTo!, id)
}

/**
 * Validates `input` and returns the values to store (only the fields given, resolved to camelCase).
 * `existing` is the item an update changes. Errors are those the portal gives for one item.
 */
export const prepare = (
  ctx: WriteContext,
  input: unknown,
  options: { readonly recordIgnored?: boolean; readonly existing?: Store.Item } = {},
): Result => {
  if (!V.isObject(input)) {
    return Either.left(RestError.invalidRequest("Parameter 'fields' must be an object"))
  }
  const out: Record<string, unknown> = {}
  const ignore = (field: string) => {
    if (options.recordIgnored !== false) {
      ctx.store.recordIgnored({ method: ctx.method, entityTypeId: ctx.type.entityTypeId, field })
    }
  }
  for (const [key, value] of Object.entries(input)) {
    if (key === "id" || key === "ID") continue
    if (ctx.mode !== "import" && key === "fm") {
      const lists = MultiFields.applyFm(
        ctx.type,
        options.existing,
        value,
        (k) => ignore(k === "" ? "fm" : `fm[${k}]`),
        () => ctx.store.allocateValueId(),
      )
      if (Either.isLeft(lists)) return Either.left(lists.left)
      Object.assign(out, lists.right)
      continue
    }
    const name = resolveName(ctx.type, key)
    const f = name === undefined ? undefined : ctx.type.fields.get(name)
    // crm.item.add/update take multi-fields only as `fm`: their pages list no `PHONE`..., and
    // "An incorrect field in `fields` will be ignored".
    if (f === undefined || (f.isMultiField === true && ctx.mode !== "import")) {
      ignore(key)
      continue
    }
    if (f.isImportHistory) {
      if (ctx.mode !== "import") continue
      if (!ctx.user.isAdmin) return Either.left(RestError.valueNotValid(f.name))
      if (f.type === "datetime") {
        const ms = V.parseTime(value)
        if (ms === undefined) return Either.left(RestError.valueNotValid(f.name))
        out[f.name] = V.formatDateTime(ms)
      } else {
        const id = V.toId(value)
        if (id === undefined) return Either.left(RestError.valueNotValid(f.name))
        out[f.name] = id
      }
      continue
    }
    if (f.isReadOnly) continue
    if (f.isMultiField) {
      const list = MultiFields.fromList(f.name, value)
      if (Either.isLeft(list)) return Either.left(list.left)
      out[f.name] = list.right
      continue
    }
    if (f.isMultiple && f.type !== "file") {
      if (value === null || value === "") {
        out[f.name] = []
        continue
      }
      if (!V.isIterable(value)) return Either.left(RestError.notIterable(V.phpType(value)))
      const list = V.toList(value).filter((v) => !V.isEmpty(v))
      if (f.linkTo !== undefined) {
        if (!list.every((v) => checkLink(ctx, f, v))) return Either.left(RestError.valueNotValid(f.name))
        out[f.name] = list.map((v) => V.toId(v))
      } else {
        out[f.name] = list.map((v) => coerce(f, v))
      }
      continue
    }
    if (f.linkTo !== undefined) {
      if (V.isEmpty(value) || value === 0 || value === "0") {
        out[f.name] = null
        continue
      }
      if (!checkLink(ctx, f, value)) return Either.left(RestError.valueNotValid(f.name))
      out[f.name] = V.toId(value)
      continue
    }
    out[f.name] = coerce(f, value)
  }
  return Either.right(out)
}

const requiredError = (ctx: WriteContext, values: Record<string, unknown>, existing?: Store.Item) => {
  for (const f of ctx.type.fields.values()) {
    if (!f.isRequired) continue
    const v = f.name in values ? values[f.name] : existing?.[f.name]
    if (V.isEmpty(v)) return RestError.required(f.title)
  }
  return undefined
}

const defaultStage = (type: EntityTypes.EntityType, categoryId: unknown): string => {
  const cat = V.toInt(categoryId) ?? 0
  switch (type.entityTypeId) {
    case 1:
      return "NEW"
    case 2:
      return cat === 0 ? "NEW" : `C${cat}:NEW`
    case 7:
      return "DRAFT"
    default:
      return `DT${type.entityTypeId}_${cat}:NEW`
  }
}

/** The full record of a new item: nulls for every field, the portal's defaults, then the values. */
const newItem = (ctx: WriteContext, values: Record<string, unknown>, id: number): Record<string, unknown> => {
  const { type, user, nowMs } = ctx
  const now = V.formatDateTime(nowMs)
  const item: Record<string, unknown> = {}
  for (const f of type.fields.values()) item[f.name] = f.isMultiple ? [] : null
  const has = (name: string) => type.fields.has(name)
  const defaults: Record<string, unknown> = {
    title: `${type.title} #${id}`,
    opened: "Y",
    assignedById: user.id,
    createdBy: user.id,
    updatedBy: user.id,
    movedBy: user.id,
    createdTime: now,
    updatedTime: now,
    movedTime: now,
    currencyId: ctx.currency,
    isManualOpportunity: "N",
    opportunity: 0,
    taxValue: 0,
    categoryId: type.entityTypeId === 1 || type.entityTypeId === 7 ? null : 0,
    sourceId: "CALL",
    begindate: V.formatDate(nowMs),
    closedate: V.formatDate(nowMs + 7 * 86_400_000),
    export: "Y",
    isMyCompany: "N",
    isRecurring: "N",
    typeId: ({ 2: "SALE", 3: "CLIENT", 4: "CUSTOMER" } as Record<number, string>)[type.entityTypeId] ?? null,
  }
  for (const [k, v] of Object.entries(defaults)) if (has(k) && v !== null) item[k] = v
  for (const [k, v] of Object.entries(values)) if (!(v === null && k in defaults && has(k))) item[k] = v
  if (has("title") && V.isEmpty(item.title)) item.title = `${type.title} #${id}`
  if (has("stageId") && V.isEmpty(item.stageId)) item.stageId = defaultStage(type, item.categoryId)
  if (!("createdTime" in values) && "updatedTime" in values) item.updatedTime = values.updatedTime
  if ("createdTime" in values && !("updatedTime" in values)) item.updatedTime = values.createdTime
  if ("createdTime" in values && !("movedTime" in values) && has("movedTime"))
    item.movedTime = values.createdTime
  // Contacts have no title; the portal shows their full name.
  if (type.entityTypeId === 3) item.fullName = fullName(item)
  return item
}

const fullName = (item: Record<string, unknown>): string => {
  const name = [item.name, item.lastName].filter((s) => !V.isEmpty(s)).join(" ")
  return name === "" ? "Untitled" : name
}

/** Import rules for `createdTime`: not in the future, not before earlier imports, updated after created. */
const importDateError = (ctx: WriteContext, values: Record<string, unknown>) => {
  const created = V.parseTime(values.createdTime)
  const updated = V.parseTime(values.updatedTime)
  if (created !== undefined) {
    if (created > ctx.nowMs) return RestError.valueNotValid("createdTime")
    const last = V.parseTime(ctx.store.lastImportedCreatedTime(ctx.type.entityTypeId))
    if (ctx.strictImportOrder && last !== undefined && created < last) {
      return RestError.valueNotValid("createdTime")
    }
  }
  if (updated !== undefined) {
    if (updated > ctx.nowMs) return RestError.valueNotValid("updatedTime")
    if (updated < (created ?? ctx.nowMs)) return RestError.valueNotValid("updatedTime")
  }
  return undefined
}

/** Validates and creates one item (import or add). */
export const create = (ctx: WriteContext, input: unknown): Either.Either<Store.Item, RestError.RestError> => {
  const prepared = prepare(ctx, input)
  if (Either.isLeft(prepared)) return Either.left(prepared.left)
  const values = Links.withPrimaries(ctx.type, prepared.right, undefined)
  const missing = requiredError(ctx, values)
  if (missing !== undefined) return Either.left(missing)
  if (ctx.mode === "import") {
    const dateError = importDateError(ctx, values)
    if (dateError !== undefined) return Either.left(dateError)
  }
  const id = ctx.store.peekNextId(ctx.type.entityTypeId)
  const item = ctx.store.insert(ctx.type.entityTypeId, newItem(ctx, values, id))
  if (ctx.mode === "import" && typeof values.createdTime === "string") {
    ctx.store.setLastImportedCreatedTime(ctx.type.entityTypeId, values.createdTime)
  }
  return Either.right(item)
}

/** Validates and applies an update (only the fields given). */
export const update = (
  ctx: WriteContext,
  id: number,
  input: unknown,
): Either.Either<Store.Item, RestError.RestError> => {
  const existing = ctx.store.get(ctx.type.entityTypeId, id)
  if (existing === undefined) return Either.left(RestError.itemNotFound())
  const prepared = prepare(ctx, input, { existing })
  if (Either.isLeft(prepared)) return Either.left(prepared.left)
  const missing = requiredError(ctx, prepared.right, existing)
  if (missing !== undefined) return Either.left(missing)
  const values: Record<string, unknown> = {
    ...Links.withPrimaries(ctx.type, prepared.right, existing),
    updatedTime: V.formatDateTime(ctx.nowMs),
    updatedBy: ctx.user.id,
  }
  if (ctx.type.entityTypeId === 3) values.fullName = fullName({ ...existing, ...values })
  return Either.right(ctx.store.update(ctx.type.entityTypeId, id, values)!)
}

/** An item as the API shows it: selected fields, user fields under original names when asked. */
export const present = (
  type: EntityTypes.EntityType,
  item: Store.Item,
  select: ReadonlyArray<string> | undefined,
  useOriginalUfNames: boolean,
): Record<string, unknown> => {
  const all = select === undefined || select.length === 0 || select.includes("*")
  const wanted = new Set<string>()
  if (!all) {
    wanted.add("id")
    for (const s of select) {
      const name = resolveName(type, s) ?? s
      wanted.add(name)
      if (s === "ufCrm*" || s === "UF_*") {
        for (const f of type.fields.values()) if (f.isDynamic) wanted.add(f.name)
      }
    }
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(item)) {
    const f = type.fields.get(k)
    // Multi-fields are shown only as `fm`.
    if (f?.isMultiField === true) continue
    if (!all && !wanted.has(k)) continue
    out[useOriginalUfNames && f?.isDynamic ? f.upperName : k] = v
  }
  // crm.item.list: "The `fm` field ... cannot be explicitly requested via `select`. To receive `fm`
  // in the response, pass `select: ['*']`"; crm.item.get shows it with ids.
  if (all && MultiFields.namesOf(type).length > 0) out.fm = MultiFields.present(type, item)
  return out
}
