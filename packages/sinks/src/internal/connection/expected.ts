/**
 * `expected`: what the portal holds once mapped fields (references resolved) are written, for
 * `verify`. The link fields are named, and a primary link the mapping leaves empty next to its
 * list is the list's first link: the portal makes the first linked contact (or company) the
 * primary one (the vendor's link pages, b24restdocs `api-reference/crm/deals/contacts/index.md`:
 * "The first linked contact becomes the primary one"), and the sink leaves the empty primary
 * out of the write (`links.ts`).
 */
import type * as Sink from "@b24etl/core/Sink"
import type * as Target from "../../Target.js"
import { isLink } from "./links.js"

const pairs: ReadonlyArray<readonly [single: string, list: string]> = [
  ["companyId", "companyIds"],
  ["contactId", "contactIds"],
]

const isEmpty = (v: unknown): boolean => v === null || v === undefined || v === "" || v === 0 || v === "0"

/** The connection's `expected`. */
export const make: NonNullable<Sink.Connection<Target.Target>["expected"]> = (_target, fields) => {
  const out: Record<string, unknown> = { ...fields }
  for (const [single, list] of pairs) {
    const links = out[list]
    if (single in out && isEmpty(out[single]) && Array.isArray(links)) {
      const first = links.find((v) => !isEmpty(v))
      if (first !== undefined) out[single] = first
    }
  }
  return { fields: out, links: new Set(Object.keys(out).filter(isLink)) }
}
