/**
 * Field values in the shape `crm.item.batchImport` wants, and the fields of each CRM type.
 *
 * ```ts
 * map: (r) => ({
 *   title: r.name,
 *   PHONE: Fields.phones(r.phone, { value: r.mobile, type: "MOBILE" }),
 *   EMAIL: Fields.emails(r.email),
 *   ufCrm_1721244707107: Fields.money(r.budget, "EUR"),
 *   ufCrm44_1721812898903: Fields.file("contract.pdf", r.contract_bytes),
 *   opened: Fields.yn(r.is_public),
 * })
 * ```
 */
import * as Dropped from "@b24etl/core/Dropped"
import type { Reference } from "@b24etl/core/Reference"

export const phoneTypes = ["WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"] as const
export const emailTypes = ["WORK", "HOME", "MAILING", "OTHER"] as const
export const webTypes = ["WORK", "HOME", "FACEBOOK", "VK", "LIVEJOURNAL", "TWITTER", "OTHER"] as const
export const imTypes = [
  "FACEBOOK",
  "TELEGRAM",
  "VK",
  "SKYPE",
  "VIBER",
  "INSTAGRAM",
  "BITRIX24",
  "OPENLINE",
  "IMOL",
  "ICQ",
  "MSN",
  "JABBER",
  "OTHER",
] as const

export type PhoneType = (typeof phoneTypes)[number]
export type EmailType = (typeof emailTypes)[number]
export type WebType = (typeof webTypes)[number]
export type ImType = (typeof imTypes)[number]

/** The multi-fields and their value types. */
export const multiFieldTypes: Readonly<Record<MultiFieldName, ReadonlyArray<string>>> = {
  PHONE: phoneTypes,
  EMAIL: emailTypes,
  WEB: webTypes,
  IM: imTypes,
}
export type MultiFieldName = "PHONE" | "EMAIL" | "WEB" | "IM"
export const multiFieldNames: ReadonlyArray<MultiFieldName> = ["PHONE", "EMAIL", "WEB", "IM"]

/** One phone, e-mail, site or messenger, as import takes it. */
export interface MultiFieldValue<T extends string = string> {
  readonly VALUE: string
  readonly VALUE_TYPE: T
}

/** A value for the multi-field helpers: a bare value (default type), or a value with a type. */
export type MultiFieldInput<T extends string> =
  | string
  | number
  | null
  | undefined
  | { readonly value: string | number | null | undefined; readonly type?: T | undefined }
  | ReadonlyArray<MultiFieldInput<T>>

/** Whether a value can be of its kind; one that cannot is dropped (and reported). */
const validity: Readonly<Record<MultiFieldName, (value: string) => boolean>> = {
  // Someone at a domain, no spaces: `max@`, `office(at)x.de` and `n/a` are not addresses.
  EMAIL: (v) => /^[^\s@]+@[^\s@]+$/u.test(v),
  // A number has digits (`+49 30 123 ext. 5` has letters too, and is kept): `n/a` and `-` are not.
  PHONE: (v) => /\d/u.test(v),
  // A host name has a dot and no spaces: `n/a` and `see notes` are not sites.
  WEB: (v) => v.includes(".") && !/\s/u.test(v),
  IM: () => true,
}

const multi =
  <T extends string>(name: MultiFieldName, defaultType: T) =>
  (...values: ReadonlyArray<MultiFieldInput<T>>): ReadonlyArray<MultiFieldValue<T>> => {
    const allowed = multiFieldTypes[name]
    const valid = validity[name]
    const out: Array<MultiFieldValue<T>> = []
    const dropped: Array<Dropped.DroppedValue> = []
    const seen = new Set<string>()
    const visit = (v: MultiFieldInput<T>): void => {
      if (Array.isArray(v)) {
        ;(v as ReadonlyArray<MultiFieldInput<T>>).forEach(visit)
        return
      }
      const entry =
        typeof v === "object" && v !== null
          ? (v as { value: string | number | null | undefined; type?: T })
          : { value: v as string | number | null | undefined }
      // No value at all (null, undefined) is not a dropped one; blank text is.
      if (entry.value === null || entry.value === undefined) return
      const value = String(entry.value).trim()
      if (value === "") {
        dropped.push({ value: String(entry.value), reason: "empty" })
        return
      }
      const type = (entry.type ?? defaultType).toUpperCase() as T
      if (!allowed.includes(type)) {
        throw new Error(`${name} type "${entry.type}" is not one of ${allowed.join(", ")}`)
      }
      if (!valid(value)) {
        dropped.push({ value, reason: "invalid" })
        return
      }
      const key = `${type}\u0000${value}`
      if (seen.has(key)) {
        dropped.push({ value, reason: "duplicate" })
        return
      }
      seen.add(key)
      out.push({ VALUE: value, VALUE_TYPE: type })
    }
    values.forEach(visit)
    return Dropped.attach(out, dropped)
  }

/**
 * `PHONE`: phones (default type WORK). Dropped, and reported by the runner (the entity's
 * `warnings`, listed by `pipeline failures <name> --warnings` with key, field and value): blank
 * text, a value without a digit (`n/a`), and a duplicate of one kept (same type and value).
 * `null` and `undefined` are no value and not reported.
 */
export const phones: (
  ...values: ReadonlyArray<MultiFieldInput<PhoneType>>
) => ReadonlyArray<MultiFieldValue<PhoneType>> = multi<PhoneType>("PHONE", "WORK")
/**
 * `EMAIL`: e-mail addresses (default type WORK). Dropped and reported like `phones`: blank text,
 * a value that is not `name@domain` without spaces (`max@`, `office(at)x.de`), and a duplicate.
 */
export const emails: (
  ...values: ReadonlyArray<MultiFieldInput<EmailType>>
) => ReadonlyArray<MultiFieldValue<EmailType>> = multi<EmailType>("EMAIL", "WORK")
/**
 * `WEB`: sites (default type WORK). Dropped and reported like `phones`: blank text, a value with
 * spaces or without a dot (`n/a`), and a duplicate.
 */
export const webs: (
  ...values: ReadonlyArray<MultiFieldInput<WebType>>
) => ReadonlyArray<MultiFieldValue<WebType>> = multi<WebType>("WEB", "WORK")
/** `IM`: messenger accounts (default type OTHER); blank text and duplicates dropped and reported. */
export const ims: (
  ...values: ReadonlyArray<MultiFieldInput<ImType>>
) => ReadonlyArray<MultiFieldValue<ImType>> = multi<ImType>("IM", "OTHER")

/** A file user-field value: `[name, base64]`. `content` is bytes, or text already in base64. */
export const file = (name: string, content: Uint8Array | string): readonly [string, string] => {
  if (name.trim() === "") throw new Error("a file needs a name")
  const base64 =
    typeof content === "string" ? content.replace(/\s+/g, "") : Buffer.from(content).toString("base64")
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw new Error(`the content of file "${name}" is not base64`)
  return [name, base64]
}

/** A money user-field value: `amount|CUR`, e.g. `600|USD`. */
export const money = (amount: number | string, currency: string): string => {
  const n = typeof amount === "number" ? amount : Number(String(amount).trim())
  if (!Number.isFinite(n)) throw new Error(`money amount "${amount}" is not a number`)
  const cur = currency.trim().toUpperCase()
  if (!/^[A-Z]{3}$/.test(cur)) throw new Error(`currency "${currency}" is not a three-letter code`)
  return `${n}|${cur}`
}

/** A yes/no field value: `Y` or `N` (`undefined` for a missing value, so the field is not sent). */
export function yn(value: boolean): "Y" | "N"
export function yn(value: boolean | null | undefined): "Y" | "N" | undefined
export function yn(value: boolean | null | undefined): "Y" | "N" | undefined {
  return value === null || value === undefined ? undefined : value ? "Y" : "N"
}

/** A date field value: `YYYY-MM-DD` (the date in UTC). */
export const date = (value: Date | string): string => {
  const d = typeof value === "string" ? new Date(value) : value
  if (Number.isNaN(d.getTime())) throw new Error(`"${String(value)}" is not a date`)
  return d.toISOString().slice(0, 10)
}

/** A date-time field value: ISO 8601 with the offset, e.g. `2024-08-11T22:22:41+00:00`. */
export const dateTime = (value: Date | string): string => {
  const d = typeof value === "string" ? new Date(value) : value
  if (Number.isNaN(d.getTime())) throw new Error(`"${String(value)}" is not a date`)
  return `${d.toISOString().slice(0, 19)}+00:00`
}

// ---------------------------------------------------------------------------------------------
// Field types of the CRM types (a mapping may return more: unknown names are found by `plan`).

export type Id = number | string
/** A link: an id, or a reference the runner resolves to one before the item is sent. */
export type Link = Id | Reference | null | undefined
/** Links to several items; `null` or `[]` is none (an update clears them). */
export type Links = ReadonlyArray<Id | Reference | null | undefined> | null
export type YN = "Y" | "N" | boolean

/** `ufCrm...` (camelCase) or `UF_CRM_...` user fields: strings, numbers, `Y`/`N`, dates, files, money, lists. */
export type UserFields = {
  readonly [K in `ufCrm${string}` | `UF_CRM_${string}`]?: unknown
}
/** `parentId{entityTypeId}` links to a parent item (e.g. `parentId1220`). */
export type ParentLinks = { readonly [K in `parentId${number}`]?: Link }

export type CommonFields = {
  readonly assignedById?: Id | undefined
  readonly opened?: YN | undefined
  readonly comments?: string | undefined
  readonly observers?: ReadonlyArray<Id> | undefined
  /** Administrators only; items must be imported in ascending `createdTime`. */
  readonly createdTime?: string | undefined
  readonly updatedTime?: string | undefined
  readonly movedTime?: string | undefined
  readonly createdBy?: Id | undefined
  readonly updatedBy?: Id | undefined
  readonly movedBy?: Id | undefined
  readonly sourceId?: string | undefined
  readonly sourceDescription?: string | undefined
  readonly utmSource?: string | undefined
  readonly utmMedium?: string | undefined
  readonly utmCampaign?: string | undefined
  readonly utmContent?: string | undefined
  readonly utmTerm?: string | undefined
}

export type MoneyFields = {
  readonly currencyId?: string | undefined
  readonly isManualOpportunity?: YN | undefined
  readonly opportunity?: number | string | undefined
  readonly taxValue?: number | string | undefined
}

export type MultiFields = {
  readonly PHONE?: ReadonlyArray<MultiFieldValue<PhoneType>> | undefined
  readonly EMAIL?: ReadonlyArray<MultiFieldValue<EmailType>> | undefined
  readonly WEB?: ReadonlyArray<MultiFieldValue<WebType>> | undefined
  readonly IM?: ReadonlyArray<MultiFieldValue<ImType>> | undefined
}

export type PersonFields = {
  readonly honorific?: string | undefined
  readonly name?: string | undefined
  readonly secondName?: string | undefined
  readonly lastName?: string | undefined
  readonly birthdate?: string | undefined
  readonly post?: string | undefined
}

export type ClientLinks = {
  readonly companyId?: Link
  readonly contactId?: Link
  readonly contactIds?: Links | undefined
}

export type LeadFields = CommonFields &
  MoneyFields &
  MultiFields &
  PersonFields &
  ClientLinks &
  UserFields & {
    readonly title?: string | undefined
    readonly companyTitle?: string | undefined
    readonly stageId?: string | undefined
    readonly statusDescription?: string | undefined
  }

export type DealFields = CommonFields &
  MoneyFields &
  ClientLinks &
  UserFields &
  ParentLinks & {
    readonly title?: string | undefined
    readonly typeId?: string | undefined
    readonly categoryId?: Id | undefined
    readonly stageId?: string | undefined
    readonly probability?: number | undefined
    readonly begindate?: string | undefined
    readonly closedate?: string | undefined
    readonly leadId?: Link
    readonly quoteId?: Link
    readonly additionalInfo?: string | undefined
  }

export type ContactFields = CommonFields &
  MultiFields &
  PersonFields &
  UserFields & {
    readonly typeId?: string | undefined
    readonly photo?: readonly [string, string] | undefined
    readonly export?: YN | undefined
    readonly companyId?: Link
    readonly companyIds?: Links | undefined
    readonly leadId?: Link
  }

export type CompanyFields = CommonFields &
  MultiFields &
  UserFields & {
    readonly title?: string | undefined
    readonly typeId?: string | undefined
    readonly logo?: readonly [string, string] | undefined
    readonly industry?: string | undefined
    readonly employees?: string | undefined
    readonly currencyId?: string | undefined
    readonly revenue?: number | string | undefined
    readonly bankingDetails?: string | undefined
    readonly isMyCompany?: YN | undefined
    readonly contactIds?: Links | undefined
    readonly leadId?: Link
  }

export type QuoteFields = CommonFields &
  MoneyFields &
  ClientLinks &
  UserFields & {
    readonly title?: string | undefined
    readonly stageId?: string | undefined
    readonly dealId?: Link
    readonly leadId?: Link
    readonly content?: string | undefined
    readonly terms?: string | undefined
    readonly begindate?: string | undefined
    readonly closedate?: string | undefined
    readonly actualDate?: string | undefined
    readonly mycompanyId?: Link
  }

/** Smart invoices and smart processes (SPA) share these fields. */
export type SpaFields = CommonFields &
  MoneyFields &
  ClientLinks &
  UserFields &
  ParentLinks & {
    readonly title?: string | undefined
    readonly categoryId?: Id | undefined
    readonly stageId?: string | undefined
    readonly begindate?: string | undefined
    readonly closedate?: string | undefined
    readonly mycompanyId?: Link
  }

export type InvoiceFields = SpaFields
