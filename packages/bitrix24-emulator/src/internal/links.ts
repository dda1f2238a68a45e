/**
 * The primary link: a contact's `companyId` is the primary one of its `companyIds`, a deal's (or
 * lead's, quote's, smart process item's) `contactId` the primary one of its `contactIds`.
 *
 * The vendor's link pages (b24restdocs `api-reference/crm/contacts/company/index.md`): "The company
 * from the primary link is written to the contact field `COMPANY_ID`"; "If the primary link is
 * deleted ..., the first of the remaining links becomes the primary one"; and
 * `api-reference/crm/deals/contacts/index.md`: "The first linked contact becomes the primary one".
 * A write that gives both fields stores them as given (the pages say nothing about a primary id
 * missing from the list).
 */
import type * as EntityTypes from "../EntityTypes.js"
import * as V from "./values.js"

const pairs: ReadonlyArray<readonly [single: string, list: string]> = [
  ["companyId", "companyIds"],
  ["contactId", "contactIds"],
]

const listOf = (v: unknown): ReadonlyArray<number> =>
  Array.isArray(v) ? v.map(V.toId).filter((id): id is number => id !== undefined) : []

/**
 * The values to store for a write of `values` (already validated, link fields as ids or null) on an
 * item whose links are `current` (undefined when it is created).
 */
export const withPrimaries = (
  type: EntityTypes.EntityType,
  values: Readonly<Record<string, unknown>>,
  current: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> => {
  const out: Record<string, unknown> = { ...values }
  for (const [single, list] of pairs) {
    if (!type.fields.has(single) || !type.fields.has(list)) continue
    const hasSingle = single in values
    const hasList = list in values
    if (hasSingle && hasList) continue
    if (hasList) {
      out[single] = listOf(values[list])[0] ?? null
      continue
    }
    if (!hasSingle) continue
    const ids = listOf(current?.[list])
    const primary = V.toId(values[single])
    if (primary !== undefined) {
      out[list] = ids.includes(primary) ? ids : [primary, ...ids]
      continue
    }
    // Clearing the primary link removes it; the first remaining link becomes the primary one.
    const old = V.toId(current?.[single])
    const rest = ids.filter((id) => id !== old)
    out[list] = rest
    out[single] = rest[0] ?? null
  }
  return out
}
