/**
 * A legacy record's key as the id map stores it: one string per record. A single key is its
 * value as text (`42`, `ACME-7`); a compound key is the JSON array of its parts as text
 * (`["eu","42"]`), so `("a,b")` and `("a","b")` never collide.
 */
export type SourceKey = string

export type KeyPart = string | number | bigint | boolean | Date

const part = (value: KeyPart): string => (value instanceof Date ? value.toISOString() : String(value))

/** Builds the canonical key of a record from its key value or values. */
export const make = (value: KeyPart | ReadonlyArray<KeyPart>): SourceKey =>
  Array.isArray(value)
    ? value.length === 1
      ? part(value[0] as KeyPart)
      : JSON.stringify((value as ReadonlyArray<KeyPart>).map(part))
    : part(value as KeyPart)

/** The longest key the state store keeps (characters); a longer one is a dead letter, not a crash. */
export const maxLength = 255
