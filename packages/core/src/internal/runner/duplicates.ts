import { toJson } from "../../Json.js"
import type { SourceRecord } from "../../Source.js"
import type { Failed } from "./prepare.js"

/** The dead letters' code for a key the source holds more than once in one read. */
export const DUPLICATE_KEY = "DUPLICATE_KEY"

/** A chunk with the second (third, …) copies of keys taken out, as dead letters. */
export interface Deduplicated {
  /** The records to prepare: each key's first copy in this read. */
  readonly records: ReadonlyArray<SourceRecord>
  /** A dead letter per later copy, with both payloads: `{ first, second }`. */
  readonly duplicates: ReadonlyArray<Failed>
}

/** Finds keys read twice in one read of an entity; fed the chunks in read order. */
export interface DuplicateFinder {
  readonly chunk: (records: ReadonlyArray<SourceRecord>) => Deduplicated
  /** How many copies of this key the read has seen so far. */
  readonly seen: (key: string) => number
}

/**
 * Sorts out the keys an entity's read meets twice. The first copy goes on as usual; each later
 * copy becomes a `DUPLICATE_KEY` dead letter holding both records, so neither is dropped in
 * silence. Memory stays bounded: every key of the read (to notice a copy anywhere) and the
 * records of this chunk and the one before (rows come in key or cursor order, so copies are
 * usually close; an earlier first copy is named, not quoted).
 */
export const finder = (entity: string): DuplicateFinder => {
  // Every key once (a Set is the smallest), and how many times the few repeated ones came.
  const keys = new Set<string>()
  const repeated = new Map<string, number>()
  const seen = (key: string) => repeated.get(key) ?? (keys.has(key) ? 1 : 0)
  let previous = new Map<string, SourceRecord["data"]>()
  return {
    seen,
    chunk: (records) => {
      const current = new Map<string, SourceRecord["data"]>()
      const kept: Array<SourceRecord> = []
      const duplicates: Array<Failed> = []
      for (const record of records) {
        if (!keys.has(record.key)) {
          keys.add(record.key)
          kept.push(record)
          current.set(record.key, record.data)
          continue
        }
        const n = repeated.get(record.key) ?? 1
        repeated.set(record.key, n + 1)
        const first = current.get(record.key) ?? previous.get(record.key)
        duplicates.push({
          _tag: "Failed",
          key: record.key,
          position: record.position,
          deadLetter: {
            entity,
            sourceKey: record.key,
            stage: "read",
            code: DUPLICATE_KEY,
            message: `the source holds this key ${n + 1 === 2 ? "twice" : `${n + 1} times`} in one read: the first copy went on (written unless it failed on its own), this copy did not. ${first === undefined ? "The first copy was read too long before to be kept here; this copy is the payload's second." : "Both are in the payload (first, second)."} Make the key unique in the source (or key the stream by other columns), or dismiss this dead letter`,
            payload: {
              first: first === undefined ? null : toJson(first),
              second: toJson(record.data),
            },
          },
        })
      }
      previous = current
      return { records: kept, duplicates }
    },
  }
}
