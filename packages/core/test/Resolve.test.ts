import { assert, describe, it } from "@effect/vitest"
import { hashFields, type Prepared } from "../src/internal/runner/prepare.js"
import { byEntity, idOf, resolve, whyUnresolved } from "../src/internal/runner/resolve.js"
import { ref } from "../src/Reference.js"
import type { DeadLetter } from "../src/StateStore.js"

const prepared = (
  key: string,
  fields: Record<string, unknown>,
  deferred: Record<string, unknown> = {},
): Prepared => ({
  _tag: "Prepared",
  key,
  position: undefined,
  data: { id: key },
  fields,
  deferred,
  createHash: hashFields(fields),
  hash: hashFields({ ...fields, ...deferred }),
  deleted: false,
})

const k = (entity: string, key: string) => `${entity}\u0000${key}`

const letter = (message: string): DeadLetter => ({
  entity: "company",
  sourceKey: "7",
  stage: "write",
  code: "BAD_ITEM",
  message,
  payload: {},
  attempts: 1,
  updatedAt: new Date(0),
  dismissedAt: null,
})

describe("resolve", () => {
  const known = { ids: new Map([[k("company", "1"), "501"]]), pending: new Set<string>() }

  it("replaces references by target ids, in arrays too", () => {
    const r = resolve(
      {
        creates: [
          prepared("1", { title: "Deal", companyId: ref("company", 1), contactIds: [ref("contact", 2)] }),
        ],
        updates: [],
      },
      idOf(known, new Map([[k("contact", "2"), "dry-9"]])),
    )
    assert.deepStrictEqual(
      r.creates.map((c) => c.fields),
      [{ title: "Deal", companyId: "501", contactIds: ["dry-9"] }],
    )
    assert.strictEqual(r.unresolved.length, 0)
  })

  it("holds back a record with a reference that has no id, naming the field", () => {
    const record = prepared("1", { companyId: ref("company", 2) })
    const r = resolve({ creates: [record], updates: [] }, idOf(known, new Map()))
    assert.strictEqual(r.creates.length, 0)
    assert.deepStrictEqual(
      r.unresolved.map((u) => [u.record.key, u.references.map((x) => [x.field, x.entity, x.key])]),
      [["1", [["companyId", "company", "2"]]]],
    )
  })

  it("creates without the deferred fields; updates carry them", () => {
    const record = prepared("1", { title: "A" }, { parentId: ref("company", 1) })
    const r = resolve({ creates: [record], updates: [{ record, targetId: "77" }] }, idOf(known, new Map()))
    assert.deepStrictEqual(
      r.creates.map((c) => c.fields),
      [{ title: "A" }],
    )
    assert.deepStrictEqual(
      r.updates.map((u) => [u.targetId, u.fields]),
      [["77", { title: "A", parentId: "501" }]],
    )
  })

  it("asks for each referenced record once, grouped by entity", () => {
    assert.deepStrictEqual(
      byEntity([ref("company", 1), ref("contact", 2), ref("company", 1), ref("company", 3)]),
      [
        { entity: "company", keys: ["1", "3"] },
        { entity: "contact", keys: ["2"] },
      ],
    )
  })
})

describe("whyUnresolved", () => {
  const company7 = ref("company", 7)
  const none = new Map<string, "deleted" | "filtered">()

  it("quotes the referenced record's own dead letter first, cut at 200 characters", () => {
    const letters = new Map([[k("company", "7"), letter("x".repeat(250))]])
    const why = whyUnresolved(company7, letters, new Set([k("company", "7")]), none)
    assert.strictEqual(why, `that record failed (stage write, BAD_ITEM: ${"x".repeat(200)}…)`)
  })

  it("says a pending record is checked by the next run of its entity", () => {
    assert.include(
      whyUnresolved(company7, new Map(), new Set([k("company", "7")]), none),
      "left that record pending",
    )
  })

  it("says the record was deleted in the source, or filtered by a step", () => {
    assert.include(
      whyUnresolved(company7, new Map(), new Set(), new Map([[k("company", "7"), "deleted"]])),
      "deleted in the source",
    )
    assert.strictEqual(
      whyUnresolved(company7, new Map(), new Set(), new Map([[k("company", "7"), "filtered"]])),
      "a step of its entity filtered that record out",
    )
  })

  it("otherwise says it was never written", () => {
    assert.include(whyUnresolved(company7, new Map(), new Set(), none), "that record was never written")
  })
})
