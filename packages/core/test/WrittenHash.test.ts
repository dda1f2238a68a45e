import { assert, describe, it } from "@effect/vitest"
import { hashFields } from "../src/internal/runner/prepare.js"
import { contentHash, isUnchanged, writtenHash } from "../src/internal/runner/writtenHash.js"
import { ref } from "../src/Reference.js"

const ids: Record<string, string> = { "company/7": "100", "contact/1": "11", "contact/2": "12" }
const lookup = (r: { readonly entity: string; readonly key: string }) => ids[`${r.entity}/${r.key}`]

describe("writtenHash", () => {
  it("is the content hash alone for a record with no references", () => {
    const fields = { title: "Acme" }
    assert.strictEqual(writtenHash(hashFields(fields), fields, lookup), hashFields(fields))
  })

  it("adds the ids the references resolve to, in order, arrays included", () => {
    const fields = { companyId: ref("company", 7), contactIds: [ref("contact", 1), ref("contact", 2)] }
    const hash = hashFields(fields)
    const kept = writtenHash(hash, fields, lookup)!
    assert.isTrue(kept.startsWith(`${hash}.`))
    assert.strictEqual(contentHash(kept), hash)
    assert.isAtMost(kept.length, 128, "fits the id map's payload_hash column")
    assert.notStrictEqual(
      writtenHash(hash, fields, (r) => (r.entity === "company" ? "250" : lookup(r))),
      kept,
      "another id for the company",
    )
    const swapped = { companyId: ref("company", 7), contactIds: [ref("contact", 2), ref("contact", 1)] }
    assert.notStrictEqual(writtenHash(hash, swapped, lookup), kept, "the same ids in another order")
  })

  it("is undefined while a reference has no id", () => {
    assert.isUndefined(writtenHash("h", { companyId: ref("company", 8) }, lookup))
  })

  it("compares content first, then links when both sides know them", () => {
    const fields = { name: "Ann", companyId: ref("company", 7) }
    const hash = hashFields(fields)
    const kept = writtenHash(hash, fields, lookup)!
    assert.isTrue(isUnchanged(kept, hash, fields, lookup))
    assert.isFalse(isUnchanged(kept, hash, fields, () => "250"))
    assert.isTrue(
      isUnchanged(kept, hash, fields, () => undefined),
      "no id now: nothing to send",
    )
    assert.isTrue(
      isUnchanged(hash, hash, fields, () => "250"),
      "a row hashed without ids",
    )
    assert.isFalse(isUnchanged(kept, hashFields({ ...fields, name: "Bo" }), fields, lookup))
  })
})
