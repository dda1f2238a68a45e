import { createHash } from "node:crypto"
import * as Reference from "../../Reference.js"

/**
 * The hash the id map keeps of a record as written (`payloadHash`). Its content hash (`Prepared`'s
 * `hash`, references as `entity/key`) is known before any id; a record with references adds,
 * after a dot, a hash of the target ids they resolved to. A parent deleted and created again, or
 * adopted or relinked, has a new id: its dependants' content is the same but their links are not,
 * so they are updated once with the new id. A record with no references keeps its content hash
 * alone, as rows written before the ids were hashed do.
 */

const separator = "."

/** The target ids of the references in `fields`, in order, or `undefined` when one has none. */
const idsOf = (
  fields: Readonly<Record<string, unknown>>,
  lookup: (reference: Reference.Reference) => string | undefined,
): ReadonlyArray<string> | undefined => {
  const ids: Array<string> = []
  for (const r of Reference.collect(fields)) {
    const id = lookup(r)
    if (id === undefined) return undefined
    ids.push(id)
  }
  return ids
}

/**
 * The hash to keep for a record written with these fields (references unresolved) whose content
 * hash is `hash`; `undefined` when a reference has no target id.
 */
export const writtenHash = (
  hash: string,
  fields: Readonly<Record<string, unknown>>,
  lookup: (reference: Reference.Reference) => string | undefined,
): string | undefined => {
  const ids = idsOf(fields, lookup)
  if (ids === undefined) return undefined
  if (ids.length === 0) return hash
  const links = createHash("sha256").update(ids.join("\n")).digest("base64url").slice(0, 16)
  return `${hash}${separator}${links}`
}

/** The content hash of a kept hash, without the links' part. */
export const contentHash = (payloadHash: string): string => {
  const i = payloadHash.indexOf(separator)
  return i < 0 ? payloadHash : payloadHash.slice(0, i)
}

/**
 * Whether a record whose content hash is `hash`, with these fields, is what the id map says was
 * written (`payloadHash`). Content that differs is a change. With the same content, links are
 * compared when both sides know them: a reference with no target id now cannot be sent anyway
 * (its item keeps its link), and a row written before ids were hashed has only its content hash.
 */
export const isUnchanged = (
  payloadHash: string,
  hash: string,
  fields: Readonly<Record<string, unknown>>,
  lookup: (reference: Reference.Reference) => string | undefined,
): boolean => {
  if (payloadHash === hash) return true
  if (contentHash(payloadHash) !== hash) return false
  const now = writtenHash(hash, fields, lookup)
  return now === undefined || now === payloadHash
}
