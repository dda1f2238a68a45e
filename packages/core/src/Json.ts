/**
 * JSON values: what checkpoints, payloads and dead letters are stored as. Everything the state
 * store keeps must survive a round trip through JSON on every dialect.
 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * Turns a record into JSON that can be stored and hashed: bigint and Date become strings,
 * binary becomes base64, undefined properties are dropped. Key order is sorted so the same
 * content always has the same text (and the same payload hash).
 */
export const toJson = (value: unknown): Json => {
  if (value === null || value === undefined) return null
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "number":
      return Number.isFinite(value) ? value : String(value)
    case "bigint":
      return value.toString()
    case "object": {
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
      if (value instanceof Uint8Array) return Buffer.from(value).toString("base64")
      if (Array.isArray(value)) return value.map(toJson)
      const out: Record<string, Json> = {}
      for (const key of Object.keys(value).sort()) {
        const v = (value as Record<string, unknown>)[key]
        if (v !== undefined && typeof v !== "function") out[key] = toJson(v)
      }
      return out
    }
    default:
      return String(value)
  }
}

/** Canonical text of a value: stable key order, so equal content gives equal text. */
export const stringify = (value: unknown): string => JSON.stringify(toJson(value))
