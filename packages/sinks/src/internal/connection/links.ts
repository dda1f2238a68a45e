/**
 * Link fields with no value (`ref("company", null)` gives `null`): left out of a create, cleared
 * on an update. The portal leaves a link in place when the field is left out and removes it when
 * the field is sent empty (`companyId: 0`, `contactIds: []`, `parentId{N}: 0`), so an update must
 * send the empty value for the portal to follow a source whose link went away.
 */

/** Links to one item: `companyId`, `contactId` and the parents `parentId{N}`. */
const isSingleLink = (name: string): boolean =>
  name === "companyId" || name === "contactId" || /^parentId\d+$/.test(name)

/** Links to several items. */
const isLinkList = (name: string): boolean => name === "companyIds" || name === "contactIds"

/** Each list with the single link that is its primary one (a contact's company, a deal's contact). */
const primaryOf: Readonly<Record<string, string>> = { companyIds: "companyId", contactIds: "contactId" }

/** Whether `name` is a link field whose empty value this module handles. */
export const isLink = (name: string): boolean => isSingleLink(name) || isLinkList(name)

const isEmpty = (v: unknown): boolean => v === null || v === undefined || v === ""

/** A list's links without the empty ones (`[ref(...), ref(..., null)]`). */
const present = (v: ReadonlyArray<unknown>): ReadonlyArray<unknown> => v.filter((x) => !isEmpty(x))

/** The fields of a create: link fields without a value are left out, lists keep their links only. */
export const forCreate = (fields: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(fields)) {
    if (isLink(name) && isEmpty(value)) continue
    out[name] = isLinkList(name) && Array.isArray(value) ? present(value) : value
  }
  return out
}

/**
 * The fields of an update: a link without a value is sent as cleared (`0`, or `[]` for a list).
 * A cleared `contactId` next to a `contactIds` list (or `companyId` next to `companyIds`) is left
 * out: the list says which links stay, and its first one becomes the primary.
 */
export const forUpdate = (fields: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  const listed = new Set(
    Object.entries(fields)
      .filter(([name, value]) => isLinkList(name) && !isEmpty(value))
      .map(([name]) => primaryOf[name]!),
  )
  for (const [name, value] of Object.entries(fields)) {
    if (isLinkList(name)) {
      out[name] = Array.isArray(value) ? present(value) : isEmpty(value) ? [] : value
      continue
    }
    if (isSingleLink(name) && isEmpty(value)) {
      if (!listed.has(name)) out[name] = 0
      continue
    }
    out[name] = value
  }
  return out
}
