/**
 * Values a field helper left out of what it returned (a duplicate, an empty or an invalid value),
 * carried on the returned value itself so the runner can report them per record: the helpers of
 * a sink (e.g. `Bitrix24.emails`) attach them, the runner collects them when it prepares the
 * record, counts them in the report (`warnings`) and keeps them for `pipeline failures --warnings`.
 *
 * They ride on a symbol property that is not enumerable: invisible to JSON, to the payload hash
 * and to the sink, so a mapping's fields are what they always were.
 */

/** One value a helper dropped, and why. */
export interface DroppedValue {
  /** The value as given (text), e.g. `n/a` or `max@`. */
  readonly value: string
  /** `duplicate` of a value kept earlier, `empty` (blank text), `invalid` for its kind. */
  readonly reason: "duplicate" | "empty" | "invalid"
}

/** A dropped value of one record, as the runner keeps it: which entity, record and field. */
export interface DroppedField extends DroppedValue {
  readonly entity: string
  readonly sourceKey: string
  readonly field: string
}

const key: unique symbol = Symbol.for("@b24etl/core/Dropped")

/** Attaches `dropped` to a helper's result (when there are any) and answers the result. */
export const attach = <A extends object>(result: A, dropped: ReadonlyArray<DroppedValue>): A => {
  if (dropped.length > 0) Object.defineProperty(result, key, { value: dropped, enumerable: false })
  return result
}

/** The values dropped by the helper that made `value`: none for any other value. */
export const of = (value: unknown): ReadonlyArray<DroppedValue> => {
  if (typeof value !== "object" || value === null || !(key in value)) return []
  const dropped = (value as { readonly [key]: unknown })[key]
  return Array.isArray(dropped) ? (dropped as ReadonlyArray<DroppedValue>) : []
}
