/**
 * Mapped fields turned into what the portal takes, item by item, so that one bad value fails its
 * own item instead of the whole request it travels in.
 */
import * as Reference from "@b24etl/core/Reference"
import * as Sink from "@b24etl/core/Sink"
import * as Fields from "../../Fields.js"
import { isObject } from "./requests.js"
import { type FieldInfo, fieldNamed, type TypeFields } from "./typeFields.js"

/** The fields ready to send, or the item's rejection. */
export type Prepared = { readonly _tag: "Ok"; readonly fields: Record<string, unknown> } | Sink.ItemResult

const reject = (code: string, message: string, field?: string): Prepared =>
  Sink.rejected(code, message, field)

/**
 * Turns mapped fields into what the portal takes: booleans as `Y`/`N`, dates as ISO text,
 * multi-fields checked (a malformed one would fail the whole import call, so it fails only its
 * item here). A reference left unresolved is refused rather than sent as a broken link. With the
 * type's fields (`known`, from `crm.item.fields`), a value its field cannot take is refused too:
 * text in a number field, a list value the field does not list.
 */
export const prepareFields = (fields: Readonly<Record<string, unknown>>, known?: TypeFields): Prepared => {
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
    const info = known === undefined ? undefined : fieldNamed(known, name)
    if (info !== undefined) {
      const bad = checkValue(name, value, info)
      if (bad !== undefined) return bad
    }
    out[name] = value
  }
  return { _tag: "Ok", fields: out }
}

const isBlank = (v: unknown): boolean => v === null || v === undefined || v === ""

/** A number, or text that is one (`"12.50"`, `" 3 "`, `"1e3"`). */
const isNumeric = (v: unknown): boolean =>
  (typeof v === "number" && Number.isFinite(v)) ||
  (typeof v === "string" && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v))

const shown = (v: unknown): string => {
  const text = typeof v === "string" ? JSON.stringify(v) : String(v)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/**
 * A value the field's type cannot take (`crm.item.fields`): the portal would refuse it, or worse
 * store nothing. Numbers (`integer`, `double`) must be numbers; a field that lists its values
 * (`items`: enumerations) takes one of their `ID`s. Empty values clear a field and pass.
 */
const checkValue = (name: string, value: unknown, info: FieldInfo): Prepared | undefined => {
  const values = Array.isArray(value) ? value : [value]
  for (const v of values) {
    if (isBlank(v)) continue
    if ((info.type === "integer" || info.type === "double") && !isNumeric(v)) {
      return reject(
        "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        `field "${name}" (${info.type}) cannot take ${shown(v)}: not a number`,
        name,
      )
    }
    if (info.items !== undefined && info.items.length > 0 && !info.items.some((i) => i.ID === String(v))) {
      const byText = info.items.find((i) => i.VALUE === String(v))
      const listed = info.items
        .slice(0, 10)
        .map((i) => `${i.ID} (${i.VALUE})`)
        .join(", ")
      return reject(
        "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        byText !== undefined
          ? `field "${name}" takes the list value's ID: ${byText.ID} for ${shown(v)}`
          : `field "${name}" has no list value ${shown(v)}; it lists ${listed}${info.items.length > 10 ? ", ..." : ""}`,
        name,
      )
    }
  }
  return undefined
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
 * Prepares every item: the results so far (a rejection, or a placeholder `Written` the request
 * fills in) and the indexes of the items to send.
 */
export const prepareAll = <I>(
  items: ReadonlyArray<I>,
  prepare: (item: I) => Prepared,
): {
  readonly results: Array<Sink.ItemResult>
  readonly ok: ReadonlyArray<number>
  readonly fieldsAt: (index: number) => Record<string, unknown>
} => {
  const prepared = items.map(prepare)
  const results: Array<Sink.ItemResult> = prepared.map((p) =>
    p._tag === "Ok" ? Sink.written("") : (p as Sink.ItemResult),
  )
  const ok = prepared.flatMap((p, i) => (p._tag === "Ok" ? [i] : []))
  const fieldsAt = (i: number) => (prepared[i] as { fields: Record<string, unknown> }).fields
  return { results, ok, fieldsAt }
}
