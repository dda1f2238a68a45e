import { createHash } from "node:crypto"
import type { Json } from "../../Json.js"
import * as SourceKey from "../../SourceKey.js"
import type { DeadLetterInput } from "../../StateStore.js"

/**
 * What the state store can keep: keys of up to 255 characters, and text without NUL (PostgreSQL
 * refuses it) or lone UTF-16 surrogates (what invalid UTF-8 becomes; the drivers would turn them
 * into U+FFFD, so a key would no longer match itself). A record that breaks these rules becomes a
 * dead letter, and the dead letter itself is made storable here, so no record can abort a run.
 */

// A NUL, a high surrogate not followed by a low one, or a low one not preceded by a high one.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

const codePoints = (text: string): number => {
  let n = 0
  for (const _ of text) n++
  return n
}

/** `\u0000` as the six characters a reader can see. */
const escaped = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`

/** The first character the store cannot keep, described with its place; undefined when there is none. */
export const badCharacter = (text: string): string | undefined => {
  const found = unstorable.exec(text)
  if (found === null) return undefined
  const c = found[0]
  const what =
    c === "\u0000"
      ? "a NUL character (\\u0000)"
      : `a lone UTF-16 surrogate (${escaped(c)}: text that is not valid Unicode, as invalid UTF-8 in the source becomes)`
  return `${what} at position ${found.index + 1}`
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * The first field (dotted path) of mapped values holding a lone surrogate, with the place: such
 * text cannot be sent as it is (JSON decoders refuse it), so the record is a dead letter instead.
 */
export const invalidUnicode = (value: unknown, path = ""): string | undefined => {
  if (typeof value === "string") {
    const found = loneSurrogate.exec(value)
    return found === null
      ? undefined
      : `${path === "" ? "a value" : path} holds a lone UTF-16 surrogate (${escaped(found[0])}) at position ${found.index + 1}: text that is not valid Unicode, as invalid UTF-8 in the source becomes`
  }
  if (typeof value !== "object" || value === null || value instanceof Date) return undefined
  for (const [k, v] of Object.entries(value)) {
    const found = invalidUnicode(v, path === "" ? k : `${path}.${k}`)
    if (found !== undefined) return found
  }
  return undefined
}

/** Text with NUL and lone surrogates written out as `\uXXXX`, for the state store. */
export const escapeText = (text: string): string =>
  unstorable.test(text) ? text.replace(new RegExp(unstorable.source, "g"), escaped) : text

/** Why the id map cannot hold this key, with the dead letter's code; undefined when it can. */
export const keyProblem = (
  key: string,
): { readonly code: "KEY_TOO_LONG" | "INVALID_KEY"; readonly message: string } | undefined => {
  if (key.length > SourceKey.maxLength) {
    const length = codePoints(key)
    if (length > SourceKey.maxLength)
      return {
        code: "KEY_TOO_LONG",
        message: `the key is ${length} characters; the id map keeps at most ${SourceKey.maxLength}`,
      }
  }
  const bad = badCharacter(key)
  return bad === undefined
    ? undefined
    : { code: "INVALID_KEY", message: `the key holds ${bad}, which the state store cannot keep` }
}

// A shortened key keeps this many characters, then `…` and a hash of the whole key (well under 255).
const keptCharacters = 200

/**
 * The key a dead letter is filed under: the key itself when the store can hold it; else the key
 * with unstorable characters written out, and, when too long, its first 200 characters and a
 * hash of the whole (so two long keys never share a dead letter, and the same key always lands
 * on the same one).
 */
export const storableKey = (key: string): string => {
  if (keyProblem(key) === undefined) return key
  const text = escapeText(key)
  if (codePoints(text) <= SourceKey.maxLength) return text
  const hash = createHash("sha256").update(key).digest("base64url").slice(0, 16)
  return `${[...text].slice(0, keptCharacters).join("")}…${hash}`
}

/**
 * Text cut to the column's length in characters (MySQL's `text` holds 65,535 bytes: 16,000
 * characters of up to four bytes fit), saying how much was cut.
 */
const fit = (text: string, max: number): string => {
  if (text.length <= max) return text
  const chars = [...text]
  if (chars.length <= max) return text
  const note = `… (${chars.length - max} characters more)`
  return chars.slice(0, Math.max(1, max - note.length)).join("") + (max > note.length * 2 ? note : "")
}

/**
 * A dead letter the store can keep: its key made storable (the message says so, and the full key
 * goes in the payload as `sourceKey`), its text escaped and cut to its column. The payload is
 * stored as JSON text, which escapes what it must by itself.
 */
export const storableLetter = (letter: DeadLetterInput): DeadLetterInput => {
  const key = storableKey(letter.sourceKey)
  const text = {
    stage: fit(escapeText(letter.stage), 64),
    code: fit(escapeText(letter.code), 128),
    message: fit(escapeText(letter.message), 16_000),
  }
  if (key === letter.sourceKey) {
    return text.stage === letter.stage && text.code === letter.code && text.message === letter.message
      ? letter
      : { ...letter, ...text }
  }
  return {
    ...letter,
    ...text,
    sourceKey: key,
    message: `${fit(text.message, 15_500)} (filed under the key ${JSON.stringify(key.length > 60 ? `${[...key].slice(0, 60).join("")}…` : key)}, which the state store can keep; the full key is the payload's sourceKey)`,
    payload: { sourceKey: letter.sourceKey, record: letter.payload } as Json,
  }
}
