/**
 * The Bitrix24 sink's connection for one run: what the runner calls to write.
 *
 * - `create`: `crm.item.batchImport`, at most 20 items per request, every item stamped with its
 *   identity (`originatorId` + `originId`, or `xmlId`); per-item errors come back as `Rejected`.
 * - `update`: `batch` of up to 50 `crm.item.update` commands per request.
 * - `find`: `crm.item.list` by identity, 50 ids per filter, paged by `>id`.
 * - `plan`: `crm.item.fields` per type, unknown field names with the nearest real one, and an
 *   estimate at the configured rate.
 *
 * The runner owns ordering, batching, references and the id map; several `create` calls run at
 * once (`concurrency`) and the portal's shared rate limiter keeps their sum within its limits.
 */
import * as Reference from "@b24etl/core/Reference"
import * as Sink from "@b24etl/core/Sink"
import { Duration, Effect } from "effect"
import type * as Bitrix24Client from "./Bitrix24Client.js"
import * as Fields from "./Fields.js"
import * as Form from "./internal/form.js"
import * as History from "./internal/history.js"
import * as Suggest from "./internal/suggest.js"
import * as RateLimiter from "./RateLimiter.js"
import * as Target from "./Target.js"

/** Items per `crm.item.batchImport` (the portal refuses 21). */
export const importBatchSize = 20
/** Commands per `batch`. */
export const commandBatchSize = 50
/** Items per `crm.item.list` page, and ids per `@` filter. */
export const pageSize = 50

export interface Options {
  readonly originator: string
  readonly dryRun: boolean
  /** Batches the runner keeps in flight (default 4). */
  readonly concurrency?: number | undefined
}

/** A field as `crm.item.fields` describes it. */
export interface FieldInfo {
  readonly name: string
  readonly type: string
  readonly title: string
  readonly upperName: string
  readonly isRequired: boolean
  readonly isReadOnly: boolean
  readonly isMultiple: boolean
}

export interface TypeFields {
  readonly byName: ReadonlyMap<string, FieldInfo>
  /** `UF_CRM_...`, `PARENT_ID_...`, `COMPANY_ID`... -> camelCase name. */
  readonly byUpperName: ReadonlyMap<string, string>
}

const sinkName = "bitrix24"

/** Maps a client error to what the runner should do. */
/**
 * A request the portal refuses as a whole (one bad item fails it all) is halved, and halved
 * again, until the item at fault is alone and rejected; the others are sent and written. Other
 * failures become a `SinkError` (`idempotent`: whether the request may simply be sent again).
 */
const splitOnRefusal =
  <A>(
    items: ReadonlyArray<A>,
    send: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError>,
    idempotent: boolean,
  ) =>
  (
    self: Effect.Effect<ReadonlyArray<Sink.ItemResult>, Bitrix24Client.Bitrix24Error | Sink.SinkError>,
  ): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> =>
    self.pipe(
      Effect.catchIf(
        (e): e is Bitrix24Client.ValidationError => e._tag === "Bitrix24ValidationError",
        (e) => {
          if (items.length === 1)
            return Effect.succeed([Sink.rejected(e.code, e.message, fieldOf(e.message))])
          const half = Math.ceil(items.length / 2)
          return Effect.map(Effect.all([send(items.slice(0, half)), send(items.slice(half))]), ([a, b]) => [
            ...a,
            ...b,
          ])
        },
      ),
      Effect.catchIf(
        (e): e is Exclude<Bitrix24Client.Bitrix24Error, Bitrix24Client.ValidationError> =>
          e._tag !== "SinkError",
        (e) => Effect.fail(toSinkError(e, idempotent)),
      ),
    )

export const toSinkError = (e: Bitrix24Client.Bitrix24Error, idempotent: boolean): Sink.SinkError => {
  switch (e._tag) {
    case "Bitrix24FatalError":
      return new Sink.SinkError({
        sink: sinkName,
        reason: "fatal",
        code: e.code,
        message: e.message,
        cause: e,
      })
    case "Bitrix24ValidationError":
      return new Sink.SinkError({
        sink: sinkName,
        reason: "fatal",
        code: e.code,
        message: e.message,
        cause: e,
      })
    case "Bitrix24LimitError":
      return new Sink.SinkError({
        sink: sinkName,
        reason: "unavailable",
        code: e.code,
        message: `${e.message}; still refused after retries`,
        cause: e,
      })
    case "Bitrix24TransientError":
      return new Sink.SinkError({
        sink: sinkName,
        reason: e.sent && !idempotent ? "ambiguous" : "unavailable",
        code: e.code,
        message:
          e.sent && !idempotent
            ? `${e.message}; the portal may have applied the call: look the items up before sending them again`
            : `${e.message}; still failing after retries`,
        cause: e,
      })
  }
}

const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const fieldOf = (message: string): string | undefined => /field "([^"]+)"/i.exec(message)?.[1]

type Prepared = { readonly _tag: "Ok"; readonly fields: Record<string, unknown> } | Sink.ItemResult

const reject = (code: string, message: string, field?: string): Prepared =>
  Sink.rejected(code, message, field)

/**
 * Turns mapped fields into what the portal takes: booleans as `Y`/`N`, dates as ISO text,
 * multi-fields checked (a malformed one would fail the whole import call, so it fails only its
 * item here). A reference left unresolved is refused rather than sent as a broken link.
 */
export const prepareFields = (fields: Readonly<Record<string, unknown>>): Prepared => {
  const out: Record<string, unknown> = {}
  for (const [name, raw] of Object.entries(fields)) {
    if (raw === undefined) continue
    const problem = { value: undefined as Prepared | undefined }
    const convert = (v: unknown): unknown => {
      if (Reference.isReference(v)) {
        problem.value = reject(
          "UNRESOLVED_REFERENCE",
          `field "${name}" still holds a reference to ${v.entity} ${v.key}`,
          name,
        )
        return undefined
      }
      if (typeof v === "boolean") return v ? "Y" : "N"
      if (v instanceof Date) {
        if (Number.isNaN(v.getTime()))
          problem.value = reject("INVALID_VALUE", `field "${name}" is an invalid date`, name)
        return Number.isNaN(v.getTime()) ? undefined : Fields.dateTime(v)
      }
      if (typeof v === "bigint") return v.toString()
      if (typeof v === "number" && !Number.isFinite(v)) {
        problem.value = reject("INVALID_VALUE", `field "${name}" is ${v}`, name)
        return undefined
      }
      if (typeof v === "function" || typeof v === "symbol") {
        problem.value = reject("INVALID_VALUE", `field "${name}" holds a ${typeof v}`, name)
        return undefined
      }
      if (v instanceof Uint8Array) return Buffer.from(v).toString("base64")
      if (Array.isArray(v)) return v.filter((x) => x !== undefined).map(convert)
      if (isObject(v)) {
        const o: Record<string, unknown> = {}
        for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = convert(x)
        return o
      }
      return v
    }
    const value = convert(raw)
    if (problem.value !== undefined) return problem.value
    if ((Fields.multiFieldNames as ReadonlyArray<string>).includes(name)) {
      const bad = checkMultiField(name as Fields.MultiFieldName, value)
      if (bad !== undefined) return bad
    }
    out[name] = value
  }
  return { _tag: "Ok", fields: out }
}

const checkMultiField = (name: Fields.MultiFieldName, value: unknown): Prepared | undefined => {
  if (value === null) return undefined
  if (!Array.isArray(value)) {
    return reject(
      "CRM_FIELD_ERROR_VALUE_NOT_VALID",
      `${name} must be a list of { VALUE, VALUE_TYPE } (use Bitrix24.${name.toLowerCase()}s(...))`,
      name,
    )
  }
  const allowed = Fields.multiFieldTypes[name]
  for (const entry of value) {
    if (!isObject(entry) || entry.VALUE === undefined) {
      return reject("CRM_FIELD_ERROR_VALUE_NOT_VALID", `${name} entries must be { VALUE, VALUE_TYPE }`, name)
    }
    const type = String(entry.VALUE_TYPE ?? "WORK").toUpperCase()
    if (!allowed.includes(type)) {
      return reject(
        "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        `${name} type "${type}" is not one of ${allowed.join(", ")}`,
        name,
      )
    }
  }
  return undefined
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

const chunks = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const asTarget = (target: Sink.Target): Effect.Effect<Target.Target, Sink.SinkError> =>
  Target.isTarget(target)
    ? Effect.succeed(target)
    : Effect.fail(
        new Sink.SinkError({
          sink: sinkName,
          reason: "fatal",
          code: "UNKNOWN_TARGET",
          message: `target "${target.name}" of sink "${target.sink}" is not a Bitrix24 target`,
        }),
      )

/** Opens a connection over `client`. */
export const make = (
  client: Bitrix24Client.Client,
  options: Options,
): Effect.Effect<Sink.Connection<Target.Target>> =>
  Effect.sync(() => {
    const { originator, dryRun } = options
    const concurrency = options.concurrency ?? 4
    const fieldsCache = new Map<number, TypeFields>()
    let fakeIds = 0

    const typeFields = (target: Target.Target): Effect.Effect<TypeFields, Sink.SinkError> => {
      const cached = fieldsCache.get(target.entityTypeId)
      if (cached !== undefined) return Effect.succeed(cached)
      return client.call("crm.item.fields", { entityTypeId: target.entityTypeId }).pipe(
        Effect.mapError((e) => toSinkError(e, true)),
        Effect.map((answer) => {
          const raw = isObject(answer.result) && isObject(answer.result.fields) ? answer.result.fields : {}
          const byName = new Map<string, FieldInfo>()
          const byUpperName = new Map<string, string>()
          for (const [name, d] of Object.entries(raw)) {
            const info: FieldInfo = {
              name,
              type: isObject(d) ? String(d.type ?? "") : "",
              title: isObject(d) ? String(d.title ?? name) : name,
              upperName: isObject(d) && typeof d.upperName === "string" ? d.upperName : name.toUpperCase(),
              isRequired: isObject(d) && d.isRequired === true,
              isReadOnly: isObject(d) && d.isReadOnly === true,
              isMultiple: isObject(d) && d.isMultiple === true,
            }
            byName.set(name, info)
            byUpperName.set(info.upperName, name)
          }
          const result = { byName, byUpperName }
          fieldsCache.set(target.entityTypeId, result)
          return result
        }),
      )
    }

    const prepareCreate = (target: Target.Target, item: Sink.SinkItem): Prepared => {
      const prepared = prepareFields(item.fields)
      if (prepared._tag !== "Ok") return prepared
      const fields = { ...prepared.fields }
      if (target.identity === "origin") {
        fields.originatorId = originator
        fields.originId = item.originId
      } else {
        fields.xmlId = Target.identityValue(target, originator, item.originId)
      }
      return { _tag: "Ok", fields }
    }

    const fakeId = (): Sink.ItemResult => Sink.written(String(-++fakeIds))
    const history = History.tracker()

    /** One `crm.item.batchImport`; a request the portal refuses as a whole is split to find the bad item. */
    const importBatch = (
      target: Target.Target,
      data: ReadonlyArray<Record<string, unknown>>,
    ): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> =>
      client
        .call("crm.item.batchImport", { entityTypeId: target.entityTypeId, data }, { idempotent: false })
        .pipe(
          Effect.flatMap((answer) => {
            const items =
              isObject(answer.result) && Array.isArray(answer.result.items) ? answer.result.items : undefined
            if (items === undefined || items.length !== data.length) {
              return Effect.fail(
                new Sink.SinkError({
                  sink: sinkName,
                  reason: "ambiguous",
                  code: "UNEXPECTED_ANSWER",
                  message: `crm.item.batchImport on ${client.portal} answered ${items?.length ?? "no"} results for ${data.length} items`,
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
                  isObject(r) && typeof r.error_description === "string"
                    ? r.error_description
                    : "the portal gave no id"
                return Sink.rejected(code, message, fieldOf(message))
              }),
            )
          }),
          splitOnRefusal(data, (part) => importBatch(target, part), false),
        )

    const create = (
      target0: Sink.Target,
      items: ReadonlyArray<Sink.SinkItem>,
    ): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> =>
      Effect.gen(function* () {
        const target = yield* asTarget(target0)
        const prepared = items.map((item) => prepareCreate(target, item))
        const results: Array<Sink.ItemResult> = prepared.map((p) =>
          p._tag === "Ok" ? Sink.written("") : (p as Sink.ItemResult),
        )
        const fieldsAt = (i: number) => (prepared[i] as { fields: Record<string, unknown> }).fields
        const ok = prepared.flatMap((p, i) => (p._tag === "Ok" ? [i] : []))
        for (const batch of chunks(ok, importBatchSize)) {
          // An item whose createdTime would arrive out of order is refused here, saying why.
          const refusals = history.check(target.entityTypeId, batch.map(fieldsAt))
          const group = batch.filter((index, j) => {
            const refusal = refusals[j]
            if (refusal !== undefined) results[index] = refusal
            return refusal === undefined
          })
          if (group.length === 0) continue
          const answers = dryRun ? group.map(fakeId) : yield* importBatch(target, group.map(fieldsAt))
          group.forEach((index, j) => {
            const answer = History.explain(answers[j]!)
            results[index] = answer
            if (answer._tag === "Written") history.written(target.entityTypeId, fieldsAt(index))
          })
        }
        return results
      })

    /** One `batch` of `crm.item.update` commands; split when the portal refuses it as a whole. */
    const updateBatch = (
      target: Target.Target,
      updates: ReadonlyArray<{ readonly id: string; readonly fields: Record<string, unknown> }>,
    ): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> => {
      const cmd: Record<string, string> = {}
      updates.forEach((u, i) => {
        cmd[`u${i}`] =
          `crm.item.update?${Form.encode({ entityTypeId: target.entityTypeId, id: u.id, fields: toUpdateFields(u.fields) })}`
      })
      return client
        .call("batch", { halt: 0, cmd }, { idempotent: true, budgetMethods: ["crm.item.update"] })
        .pipe(
          Effect.map((answer) => {
            const r = isObject(answer.result) ? answer.result : {}
            const part = (k: string): Record<string, unknown> =>
              isObject(r[k]) ? (r[k] as Record<string, unknown>) : {}
            const ok = part("result")
            const errors = part("result_error")
            const times = part("result_time")
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
              return Sink.rejected(
                "NO_RESULT",
                "the batch answered neither a result nor an error for this item",
              )
            })
          }),
          splitOnRefusal(updates, (part) => updateBatch(target, part), true),
        )
    }

    const update = (
      target0: Sink.Target,
      items: ReadonlyArray<Sink.SinkUpdate>,
    ): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> =>
      Effect.gen(function* () {
        const target = yield* asTarget(target0)
        // History fields are set on import only; an update leaves them as imported.
        const prepared = items.map((item) => prepareFields(History.withoutHistory(item.fields)))
        const results: Array<Sink.ItemResult> = prepared.map((p) =>
          p._tag === "Ok" ? Sink.written("") : (p as Sink.ItemResult),
        )
        const ok = prepared.flatMap((p, i) => (p._tag === "Ok" ? [i] : []))
        for (const group of chunks(ok, commandBatchSize)) {
          const answers = dryRun
            ? group.map((i) => Sink.written(items[i]!.targetId))
            : yield* updateBatch(
                target,
                group.map((i) => ({
                  id: items[i]!.targetId,
                  fields: (prepared[i] as { fields: Record<string, unknown> }).fields,
                })),
              )
          group.forEach((index, j) => {
            results[index] = answers[j]!
          })
        }
        return results
      })

    const find = (
      target0: Sink.Target,
      items: ReadonlyArray<Sink.SinkItem>,
    ): Effect.Effect<ReadonlyMap<string, string>, Sink.SinkError> =>
      Effect.gen(function* () {
        const target = yield* asTarget(target0)
        const found = new Map<string, string>()
        if (items.length === 0) return found
        const field = Target.identityField(target)
        const known = yield* typeFields(target)
        // A portal that does not keep the identity field would ignore the filter and list everything.
        if (!known.byName.has(field)) return found
        const byValue = new Map<string, string>()
        for (const item of items)
          byValue.set(Target.identityValue(target, originator, item.originId), item.originId)
        for (const values of chunks([...byValue.keys()], pageSize)) {
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
            const page =
              isObject(answer.result) && Array.isArray(answer.result.items) ? answer.result.items : []
            for (const row of page) {
              if (!isObject(row)) continue
              const id = Number(row.id)
              if (Number.isFinite(id) && id > lastId) lastId = id
              if (
                target.identity === "origin" &&
                row.originatorId !== undefined &&
                row.originatorId !== originator
              )
                continue
              const originId = byValue.get(String(row[field] ?? ""))
              // The lowest id wins when an earlier tool made duplicates.
              if (originId !== undefined && !found.has(originId)) found.set(originId, String(row.id))
            }
            if (page.length < pageSize) break
          }
        }
        return found
      })

    const plan = (
      entities: ReadonlyArray<Sink.PlanEntity<Target.Target>>,
    ): Effect.Effect<Sink.PlanReport, Sink.SinkError> =>
      Effect.gen(function* () {
        const problems: Array<Sink.PlanProblem> = []
        let requests = 0
        let counted = false
        for (const entity of entities) {
          const target = yield* asTarget(entity.target)
          const known = yield* typeFields(target).pipe(
            Effect.catchIf(
              (e) => e.reason === "fatal" && e.code === "NOT_FOUND",
              () => Effect.succeed(undefined),
            ),
          )
          if (entity.count !== undefined) {
            counted = true
            requests += Math.ceil(entity.count / importBatchSize)
          }
          if (known === undefined) {
            problems.push({
              entity: entity.entity,
              message: `${target.name} (entityTypeId ${target.entityTypeId}) does not exist on ${client.portal}`,
            })
            continue
          }
          const names = [...known.byName.keys()]
          for (const field of entity.fields) {
            if (known.byName.has(field)) continue
            if ((field.startsWith("UF_") || field.startsWith("PARENT_ID_")) && known.byUpperName.has(field))
              continue
            const nearest = Suggest.closest(field, names, known.byUpperName)
            problems.push({
              entity: entity.entity,
              field,
              message: `${target.name} has no field "${field}"${nearest === undefined ? "" : `; did you mean "${nearest}"?`} (the portal ignores unknown fields, so its values would be lost)`,
            })
          }
          if (entity.fields.includes(History.field) && entity.inOrder !== true)
            problems.push(History.planProblem(entity.entity))
          const identity = Target.identityField(target)
          if (!known.byName.has(identity)) {
            problems.push({
              entity: entity.entity,
              field: identity,
              message: `${target.name} has no "${identity}" field on this portal: items an interrupted call created cannot be found, so a retry could duplicate them`,
            })
          }
          for (const [name, info] of known.byName) {
            if (info.isRequired && !info.isReadOnly && !entity.fields.includes(name)) {
              problems.push({
                entity: entity.entity,
                field: name,
                message: `${target.name} requires "${name}" (${info.title}) but the mapping does not set it: every item would be rejected`,
              })
            }
          }
          for (const own of target.identity === "origin" ? ["originatorId", "originId"] : ["xmlId"]) {
            if (entity.fields.includes(own)) {
              problems.push({
                entity: entity.entity,
                field: own,
                message: `the sink sets "${own}" itself (it is how interrupted writes are found); the mapping's value is replaced`,
              })
            }
          }
        }
        const limits = client.limits
        const estimate =
          counted && limits.burst > 0
            ? Duration.millis((Math.max(0, requests - limits.burst) / limits.rate) * 1000)
            : undefined
        const notes = [
          `portal: ${client.portal}`,
          `rate: ${RateLimiter.describe(limits)} (shared by every sink on this portal in the process)`,
          `batches: ${importBatchSize} items per crm.item.batchImport, ${commandBatchSize} updates per batch, ${concurrency} in flight`,
          ...(counted ? [`requests to create the counted records: ${requests}`] : []),
          ...(dryRun ? ["dry run: create/update answer fake negative ids and send nothing"] : []),
        ]
        return { problems, estimate, notes }
      })

    const check = client.call("profile").pipe(
      Effect.mapError((e) => toSinkError(e, true)),
      Effect.asVoid,
    )

    const connection: Sink.Connection<Target.Target> = {
      batchSize: importBatchSize,
      updateBatchSize: commandBatchSize,
      concurrency,
      check,
      plan,
      create,
      update,
      find,
    }
    return connection
  })
