import { assert, describe, it } from "@effect/vitest"
import { finder } from "../src/internal/runner/duplicates.js"
import {
  escapeText,
  invalidUnicode,
  keyProblem,
  storableKey,
  storableLetter,
} from "../src/internal/runner/storable.js"

describe("keys the id map can hold", () => {
  it("says why a key cannot be kept: too long (in characters, not UTF-16 units), NUL, lone surrogate", () => {
    assert.isUndefined(keyProblem("42"))
    assert.isUndefined(keyProblem("😀".repeat(255)))
    assert.strictEqual(keyProblem("x".repeat(256))?.code, "KEY_TOO_LONG")
    assert.include(keyProblem("a\u0000b")?.message, "a NUL character (\\u0000) at position 2")
    assert.include(keyProblem("ab\udc80")?.message, "a lone UTF-16 surrogate (\\udc80")
    assert.isUndefined(keyProblem("pair \ud83d\ude00"))
  })

  it("files a bad key under a storable one: escaped, and shortened with a hash when long", () => {
    assert.strictEqual(storableKey("42"), "42")
    assert.strictEqual(storableKey("a\u0000b"), "a\\u0000b")
    const long = storableKey(`${"x".repeat(300)}1`)
    assert.isAtMost([...long].length, 255)
    assert.isTrue(long.startsWith("x".repeat(200)))
    assert.strictEqual(storableKey(`${"x".repeat(300)}1`), long)
    assert.notStrictEqual(storableKey(`${"x".repeat(300)}2`), long)
  })

  it("makes a dead letter storable: its key, its text; the full key goes in the payload", () => {
    const letter = { entity: "company", stage: "map", code: "MAP_FAILED", payload: { id: 1 } }
    const same = { ...letter, sourceKey: "1", message: "fine" }
    assert.strictEqual(storableLetter(same), same)
    assert.strictEqual(storableLetter({ ...same, message: "bad \u0000" }).message, "bad \\u0000")
    const key = "y".repeat(400)
    const long = storableLetter({ ...letter, sourceKey: key, message: "too long" })
    assert.strictEqual(long.sourceKey, storableKey(key))
    assert.include(long.message, "too long (filed under the key")
    assert.deepStrictEqual(long.payload, { sourceKey: key, record: { id: 1 } })
    assert.strictEqual(escapeText("\ud800x\u0000"), "\\ud800x\\u0000")
    // Cut to the columns MySQL has: code varchar(128), message text.
    const huge = storableLetter({ ...same, code: "C".repeat(300), message: "m".repeat(70_000) })
    assert.strictEqual(huge.code.length, 128)
    assert.isAtMost(huge.message.length, 16_000)
    assert.isTrue(huge.message.endsWith("characters more)"))
  })

  it("finds text that is not valid Unicode in mapped values, naming the field", () => {
    assert.isUndefined(invalidUnicode({ title: "ok 😀", n: 1, at: new Date(0) }))
    assert.strictEqual(
      invalidUnicode({ title: "ok", address: { city: "K\udcf6ln" } }),
      "address.city holds a lone UTF-16 surrogate (\\udcf6) at position 2: text that is not valid Unicode, as invalid UTF-8 in the source becomes",
    )
  })
})

describe("duplicate keys", () => {
  const rec = (key: string, n: number) => ({ key, data: { id: key, n } })

  it("lets the first copy through and makes each later one a dead letter with both payloads", () => {
    const f = finder("company")
    const first = f.chunk([rec("1", 1), rec("2", 1), rec("1", 2)])
    assert.deepStrictEqual(
      first.records.map((r) => r.key),
      ["1", "2"],
    )
    assert.deepStrictEqual(first.duplicates[0]!.deadLetter.payload, {
      first: { id: "1", n: 1 },
      second: { id: "1", n: 2 },
    })
    // The chunk before is remembered; older copies are named, not quoted.
    const second = f.chunk([rec("2", 2), rec("3", 1)])
    assert.deepStrictEqual(second.duplicates[0]!.deadLetter.payload, {
      first: { id: "2", n: 1 },
      second: { id: "2", n: 2 },
    })
    const third = f.chunk([rec("1", 3)])
    assert.deepStrictEqual(third.duplicates[0]!.deadLetter.payload, {
      first: null,
      second: { id: "1", n: 3 },
    })
    assert.include(third.duplicates[0]!.deadLetter.message, "3 times")
    assert.strictEqual(f.seen("1"), 3)
    assert.strictEqual(f.seen("3"), 1)
  })
})
