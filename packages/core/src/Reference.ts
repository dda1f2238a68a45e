import * as SourceKey from "./SourceKey.js"

export const TypeId: unique symbol = Symbol.for("@b24etl/core/Reference")
export type TypeId = typeof TypeId

/**
 * A link from one record to another record of the pipeline, by the other record's legacy key.
 * Mappings return references where the target system wants an id; the runner replaces each one
 * with the target id from the id map just before the batch is sent, or sends the record to the
 * dead letters when the referenced record failed or does not exist.
 */
export interface Reference {
  readonly [TypeId]: TypeId
  readonly entity: string
  readonly key: SourceKey.SourceKey
}

/**
 * `ref("company", row.company_id)`: a reference to the `company` record whose legacy key is
 * `row.company_id`. A null, undefined or empty key means "no link" and gives `null`, which the
 * runner keeps in the fields: the sink leaves it out of a create and clears the link on an update
 * (a field left out of the mapping would leave the old link in place).
 */
export function ref(entity: string, key: SourceKey.KeyPart | ReadonlyArray<SourceKey.KeyPart>): Reference
export function ref(
  entity: string,
  key: SourceKey.KeyPart | ReadonlyArray<SourceKey.KeyPart> | null | undefined,
): Reference | null
export function ref(
  entity: string,
  key: SourceKey.KeyPart | ReadonlyArray<SourceKey.KeyPart> | null | undefined,
): Reference | null {
  if (key === null || key === undefined || key === "") return null
  return { [TypeId]: TypeId, entity, key: SourceKey.make(key) }
}

export const isReference = (u: unknown): u is Reference => typeof u === "object" && u !== null && TypeId in u

/** Every reference in a record's fields, at the top level or inside arrays. */
export const collect = (fields: Readonly<Record<string, unknown>>): ReadonlyArray<Reference> => {
  const out: Array<Reference> = []
  const visit = (v: unknown): void => {
    if (isReference(v)) out.push(v)
    else if (Array.isArray(v)) v.forEach(visit)
  }
  for (const v of Object.values(fields)) visit(v)
  return out
}

/**
 * Replaces references by target ids. `resolve` answers the target id of a reference or
 * `undefined` when it cannot be resolved; the unresolved ones are returned so the caller can
 * dead-letter the record instead of sending a broken link. A field whose value is `undefined` or
 * `null` ("no value", e.g. a link to nothing) is kept as `null`, so an update can clear it.
 */
export const resolve = (
  fields: Readonly<Record<string, unknown>>,
  lookup: (reference: Reference) => string | undefined,
): {
  readonly fields: Record<string, unknown>
  readonly unresolved: ReadonlyArray<Reference & { readonly field: string }>
} => {
  const unresolved: Array<Reference & { readonly field: string }> = []
  const out: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined || value === null) {
      out[field] = null
      continue
    }
    const visit = (v: unknown): unknown => {
      if (isReference(v)) {
        const id = lookup(v)
        if (id === undefined) unresolved.push({ ...v, field })
        return id
      }
      if (Array.isArray(v)) return v.map(visit)
      return v
    }
    out[field] = visit(value)
  }
  return { fields: out, unresolved }
}
