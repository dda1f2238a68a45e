import { assert, describe, it } from "@effect/vitest"
import { diffFields, same, show } from "../src/internal/runner/fieldDiff.js"

describe("FieldDiff", () => {
  it("numbers, numeric text and money compare by amount", () => {
    assert.isTrue(same(12.5, "12.50"))
    assert.isTrue(same("600|usd", "600.00|USD"))
    assert.isFalse(same("600|USD", "600|EUR"))
    assert.isFalse(same(12.5, 12.51))
  })

  it("a date meets the portal's date-time by its day; date-times by their instant", () => {
    assert.isTrue(same("2024-05-01", "2024-05-01T00:00:00+03:00"))
    assert.isFalse(same("2024-05-01", "2024-05-02T00:00:00+03:00"))
    assert.isTrue(same(new Date("2024-05-01T10:00:00Z"), "2024-05-01T13:00:00+03:00"))
    assert.isTrue(same("2024-05-01T10:00:00+00:00", "2024-05-01T12:00:00+02:00"))
    assert.isTrue(same(new Date("2024-05-01T00:00:00Z"), "2024-05-01"))
  })

  it("yes/no, empty values and cleared links", () => {
    assert.isTrue(same(true, "Y"))
    assert.isTrue(same("N", false))
    assert.isTrue(same(null, ""))
    assert.isTrue(same([], null))
    assert.isTrue(same(null, 0))
    assert.isFalse(same("x", null))
    assert.isFalse(same(null, "x"))
  })

  it("multi-fields are sets of value + type; other lists are sets", () => {
    const source = [
      { VALUE: "+49 30 1", VALUE_TYPE: "WORK" },
      { VALUE: "+49 30 2", VALUE_TYPE: "mobile" },
    ]
    assert.isTrue(
      same(source, [
        { VALUE: "+49 30 2", VALUE_TYPE: "MOBILE" },
        { VALUE: "+49 30 1", VALUE_TYPE: "WORK" },
      ]),
    )
    assert.isFalse(
      same(source, [
        { VALUE: "+49 30 1", VALUE_TYPE: "HOME" },
        { VALUE: "+49 30 2", VALUE_TYPE: "MOBILE" },
      ]),
    )
    assert.isTrue(same([{ VALUE: "a@b.c" }], [{ VALUE: "a@b.c", VALUE_TYPE: "WORK" }]))
    assert.isTrue(same(["3", 5], [5, 3]))
    assert.isFalse(same([3, 5], [3]))
  })

  it("diffFields names each differing field once, readably, and skips the fields asked", () => {
    const diffs = diffFields(
      {
        title: "Acme",
        opportunity: 10,
        companyId: 7,
        PHONE: [{ VALUE: "+1", VALUE_TYPE: "WORK" }],
        comments: undefined,
      },
      { title: "ACME Ltd", opportunity: "10.00", companyId: 8, PHONE: [{ VALUE: "+2", VALUE_TYPE: "WORK" }] },
      new Set(["companyId"]),
    )
    assert.deepStrictEqual(
      diffs.map((d) => d.text),
      [
        'title: source "Acme", portal "ACME Ltd"',
        "PHONE: not in the portal: WORK +1; only in the portal: WORK +2",
      ],
    )
    assert.deepStrictEqual(
      diffFields({ title: "x" }, {}).map((d) => d.text),
      ['title: source "x", portal nothing'],
    )
    assert.strictEqual(show([{ VALUE: "a@b.c", VALUE_TYPE: "home" }]), "[HOME a@b.c]")
  })
})
