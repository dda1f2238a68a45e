/**
 * Where an entity's records go in Bitrix24: a CRM type (lead, deal, contact, company, quote,
 * invoice) or a smart process, with the fields a mapping for it returns.
 */
import type * as Sink from "@b24etl/core/Sink"
import type * as Fields from "./Fields.js"

/**
 * How created items are found again after an interrupted call: leads, deals, contacts and
 * companies carry `originatorId` + `originId`; smart invoices and smart processes carry `xmlId`
 * (`<originator>:<originId>`).
 */
export type Identity = "origin" | "xmlId"

export interface Target<F = Readonly<Record<string, unknown>>> extends Sink.Target<F> {
  readonly sink: "bitrix24"
  /** `lead`, `deal`, ..., or `spa:<entityTypeId>` / the name given to `spa`. */
  readonly name: string
  readonly entityTypeId: number
  readonly identity: Identity
}

export const kind = "bitrix24" as const

const make = <F>(entityTypeId: number, name: string, identity: Identity): Target<F> => ({
  sink: kind,
  name,
  entityTypeId,
  identity,
})

export const lead: Target<Fields.LeadFields> = make(1, "lead", "origin")
export const deal: Target<Fields.DealFields> = make(2, "deal", "origin")
export const contact: Target<Fields.ContactFields> = make(3, "contact", "origin")
export const company: Target<Fields.CompanyFields> = make(4, "company", "origin")
/** Quotes ("estimates"). Whether the portal keeps `originId` on them is checked by `plan`. */
export const quote: Target<Fields.QuoteFields> = make(7, "quote", "origin")
/** Smart invoices (entityTypeId 31). */
export const invoice: Target<Fields.InvoiceFields> = make(31, "invoice", "xmlId")

const systemIds = new Set([1, 2, 3, 4, 5, 7, 8, 31])

/** A smart process (SPA) by its entityTypeId (128-192 on older portals, 1030 and up on newer). */
export const spa = <F = Fields.SpaFields>(entityTypeId: number, name?: string): Target<F> => {
  if (!Number.isInteger(entityTypeId) || entityTypeId <= 0 || systemIds.has(entityTypeId)) {
    throw new Error(`Bitrix24.spa(${entityTypeId}): a smart process needs its own entityTypeId (e.g. 1030)`)
  }
  return make(entityTypeId, name ?? `spa:${entityTypeId}`, "xmlId")
}

export const isTarget = (u: Sink.Target): u is Target =>
  u.sink === kind && typeof (u as Partial<Target>).entityTypeId === "number"

/** The field that carries an item's identity, and its value. */
export const identityField = (target: Target): "originId" | "xmlId" =>
  target.identity === "origin" ? "originId" : "xmlId"

export const identityValue = (target: Target, originator: string, originId: string): string =>
  target.identity === "origin" ? originId : `${originator}:${originId}`
