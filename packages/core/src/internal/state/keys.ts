import { chunks, type Db } from "./dialect.js"

/**
 * Source keys and names as the tables hold them: their length limits, and key lists in queries.
 */

/** The longest source key the id map holds (`varchar(255)`: MySQL's index limit allows no more). */
export const maxSourceKeyLength = 255

/** Keys per `in (...)` list: lookups of up to this many keys are one query. */
export const lookupChunk = 20_000

/** Names the first key too long for the id map, so the failure says which record it was. */
export const checkKeys = (entity: string, keys: Iterable<string>) => {
  for (const key of keys) {
    if (key.length > maxSourceKeyLength && [...key].length > maxSourceKeyLength) {
      throw new Error(
        `${entity} key ${JSON.stringify(key.slice(0, 60))}… is ${[...key].length} characters; the id map holds keys of up to ${maxSourceKeyLength}`,
      )
    }
  }
}

/** Lock names, lock owners and credential names are `varchar(255)` too. */
export const checkLength = (what: string, value: string) => {
  if (value.length === 0 || value.length > 255) {
    throw new Error(`${what} must be 1 to 255 characters, got ${value.length}`)
  }
}

export const unique = (keys: ReadonlyArray<string>): ReadonlyArray<string> =>
  keys.length < 2 ? keys : [...new Set(keys)]

/** Wanted keys grouped by entity, without duplicates or entities that want none. */
const keysByEntity = (
  wanted: ReadonlyArray<{ readonly entity: string; readonly keys: ReadonlyArray<string> }>,
): ReadonlyMap<string, ReadonlySet<string>> => {
  const byEntity = new Map<string, Set<string>>()
  for (const w of wanted) {
    const keys = byEntity.get(w.entity) ?? new Set<string>()
    for (const k of w.keys) keys.add(k)
    if (keys.size > 0) byEntity.set(w.entity, keys)
  }
  return byEntity
}

/**
 * The rows of `table` holding any of the wanted keys of several entities, as one query (one
 * `entity = … and source_key in (…)` per entity), to which the caller adds its columns; none
 * when no key is wanted.
 */
export const wantedRows = (
  db: Db,
  table: "id_map" | "dead_letters",
  pipeline: string,
  wanted: ReadonlyArray<{ readonly entity: string; readonly keys: ReadonlyArray<string> }>,
) => {
  const byEntity = keysByEntity(wanted)
  if (byEntity.size === 0) return undefined
  return db
    .selectFrom(table)
    .where("pipeline", "=", pipeline)
    .where((eb) =>
      eb.or(
        [...byEntity].map(([entity, keys]) =>
          eb.and([eb("entity", "=", entity), eb("source_key", "in", [...keys])]),
        ),
      ),
    )
}

/**
 * Deletes an entity's rows of `keys` from `table`, a lookup-sized list per statement; with
 * `pending`, only the id-map rows still pending.
 */
export const deleteKeys = async (
  trx: Db,
  table: "id_map" | "dead_letters",
  at: { readonly pipeline: string; readonly entity: string; readonly pending?: boolean },
  keys: ReadonlyArray<string>,
) => {
  for (const part of chunks(keys, lookupChunk)) {
    let query = trx.deleteFrom(table).where("pipeline", "=", at.pipeline).where("entity", "=", at.entity)
    if (at.pending === true) query = query.where("status", "=", "pending")
    await query.where("source_key", "in", [...part]).execute()
  }
}
