import type { Json } from "../../Json.js"
import type { SourceRecord } from "../../Source.js"

/**
 * Keeps a checkpoint from passing a cursor in the future. One row with `updated_at =
 * '9999-12-31'` (or `infinity`) would otherwise move the checkpoint there, and every later
 * change, with an earlier cursor, would never be read again. Such rows are written like any
 * other, but the checkpoint stops at the last record before the first of them, so each run reads
 * them again (unchanged, they are skipped by their hash) and warns about them, until their time
 * has come.
 */

/** How far past the run's start a cursor may be before it counts as in the future (clocks drift). */
export const defaultToleranceMs = 5 * 60_000

// A date text: `2024-05-01`, `2024-05-01 10:00:00`, `2024-05-01T10:00:00.123+02:00`, a year beyond 9999.
const dateText = /^(\d{4,6})-\d\d-\d\d/

/** Milliseconds since the epoch of a date text; a text without a zone is UTC. */
const timeOfText = (text: string): number | undefined => {
  const date = dateText.exec(text)
  if (date === null) return undefined
  let iso = text.replace(" ", "T")
  // A zone only follows a time: `+02` needs its minutes, no zone at all means UTC.
  if (/T.*[+-]\d\d$/.test(iso)) iso = `${iso}:00`
  else if (/T[^+-]*$/.test(iso) && !/z$/i.test(iso)) iso = `${iso}Z`
  const t = Date.parse(iso)
  if (!Number.isNaN(t)) return t
  // Years beyond 9999 have no ISO form without a sign, but are surely in the future.
  return Number(date[1]) > 9999 ? Number.POSITIVE_INFINITY : undefined
}

/**
 * Whether a cursor value is later than `limit` (milliseconds): a `Date`, a date text, or
 * `infinity` (as text or number). Other values (version numbers, counters) have no time, so they
 * are never in the future.
 */
export const isFuture = (cursor: unknown, limit: number): boolean => {
  if (cursor instanceof Date) return cursor.getTime() > limit
  if (typeof cursor === "number") return cursor === Number.POSITIVE_INFINITY
  if (typeof cursor !== "string") return false
  const text = cursor.trim()
  if (/^\+?infinity$/i.test(text)) return true
  const t = timeOfText(text)
  return t !== undefined && t > limit
}

/**
 * Whether a stored checkpoint is in the future: one written before this guard existed. The
 * connectors' positions are `{ cursor, key }`; other shapes are never judged.
 */
export const isFutureCheckpoint = (checkpoint: Json | undefined, limit: number): boolean =>
  typeof checkpoint === "object" &&
  checkpoint !== null &&
  !Array.isArray(checkpoint) &&
  "cursor" in checkpoint &&
  isFuture(checkpoint.cursor, limit)

/** How many keys a warning names. */
const namedKeys = 20

/** Follows an entity's read chunk by chunk, in read order. */
export interface CursorGuard {
  /**
   * The position the checkpoint may advance to after this chunk: its last record before the
   * first one in the future (of this read); undefined when it must not move.
   */
  readonly chunk: (records: ReadonlyArray<SourceRecord>) => Json | undefined
  /** The records met with a cursor in the future: how many, and the first keys. */
  readonly future: () => { readonly count: number; readonly keys: ReadonlyArray<string> }
}

/** A guard for one read; `limit` is the latest cursor time (milliseconds) a checkpoint may pass. */
export const guard = (limit: number): CursorGuard => {
  // Records are read in cursor order, so future ones come last; once one is met, the checkpoint
  // stays (a source may also give later records the greatest position read so far).
  let held = false
  let count = 0
  const keys: Array<string> = []
  return {
    chunk: (records) => {
      let position: Json | undefined
      for (const record of records) {
        if (isFuture(record.cursor, limit)) {
          held = true
          count++
          if (keys.length < namedKeys) keys.push(record.key)
        } else if (!held) position = record.position
      }
      return position
    },
    future: () => ({ count, keys }),
  }
}

/** The warning for an entity's future records, naming the keys (the first ones when many). */
export const warning = (
  entity: string,
  future: { readonly count: number; readonly keys: ReadonlyArray<string> },
  limit: number,
): string =>
  `${entity}: ${future.count === 1 ? "1 record has" : `${future.count} records have`} a cursor later than ${new Date(limit).toISOString()} (the run's start, plus a tolerance): key${future.count === 1 ? "" : "s"} ${future.keys.join(", ")}${future.count > future.keys.length ? ` and ${future.count - future.keys.length} more` : ""}. ${future.count === 1 ? "It is" : "They are"} written, but the checkpoint stays before ${future.count === 1 ? "it" : "them"}, so every run reads ${future.count === 1 ? "it" : "them"} again; correct the cursor values in the source if they are wrong`
