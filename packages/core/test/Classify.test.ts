import { assert, describe, it } from "@effect/vitest"
import { classify } from "../src/internal/runner/classify.js"
import { hashFields, type Outcome, type Prepared } from "../src/internal/runner/prepare.js"
import { writtenHash } from "../src/internal/runner/writtenHash.js"
import { ref } from "../src/Reference.js"
import type { IdMapEntry } from "../src/StateStore.js"

const prepared = (
  key: string,
  fields: Record<string, unknown>,
  deleted: Prepared["deleted"] = false,
): Prepared => {
  const hash = hashFields(fields)
  return {
    _tag: "Prepared",
    key,
    position: key,
    data: { id: key },
    fields,
    deferred: {},
    createHash: hash,
    hash,
    deleted,
  }
}

const row = (key: string, payloadHash: string, status: IdMapEntry["status"] = "created"): IdMapEntry => ({
  entity: "company",
  sourceKey: key,
  targetType: "company",
  targetId: status === "created" ? `id-${key}` : null,
  payloadHash,
  status,
  batchId: null,
  updatedAt: new Date(0),
})

const idMap = (...rows: ReadonlyArray<IdMapEntry>) => new Map(rows.map((r) => [r.sourceKey, r]))

describe("classify", () => {
  it("creates what the id map lacks, updates what changed, leaves what did not", () => {
    const same = prepared("1", { title: "Acme" })
    const changed = prepared("2", { title: "Globex, renamed" })
    const fresh = prepared("3", { title: "Initech" })
    const c = classify([same, changed, fresh], idMap(row("1", same.hash), row("2", "old hash")))
    assert.deepStrictEqual(
      c.creates.map((p) => p.key),
      ["3"],
    )
    assert.deepStrictEqual(
      c.updates.map((u) => [u.record.key, u.targetId]),
      [["2", "id-2"]],
    )
    assert.deepStrictEqual(
      c.unchanged.map((p) => p.key),
      ["1"],
    )
    assert.deepStrictEqual([c.failed, c.filtered, c.deleted], [[], [], []])
  })

  it("creates again a record an interrupted run left pending (reconciling found it absent)", () => {
    const p = prepared("1", { title: "Acme" })
    const c = classify([p], idMap(row("1", p.hash, "pending")))
    assert.deepStrictEqual(
      c.creates.map((x) => x.key),
      ["1"],
    )
  })

  it("keeps the dead letters of records that failed to prepare and the keys a step filtered", () => {
    const deadLetter = {
      entity: "company",
      sourceKey: "1",
      stage: "map",
      code: "MAP_FAILED",
      message: "no name",
      payload: { id: "1" },
    }
    const outcomes: ReadonlyArray<Outcome> = [
      { _tag: "Failed", key: "1", position: "1", deadLetter },
      { _tag: "Skipped", key: "2", position: "2" },
    ]
    const c = classify(outcomes, new Map())
    assert.deepStrictEqual(c.failed, [deadLetter])
    assert.deepStrictEqual(c.filtered, ["2"])
    assert.strictEqual(c.creates.length, 0)
  })

  it("sends the same key twice in a chunk once, with the last record's fields", () => {
    const c = classify([prepared("1", { title: "first" }), prepared("1", { title: "last" })], new Map())
    assert.deepStrictEqual(
      c.creates.map((p) => p.fields),
      [{ title: "last" }],
    )
  })

  it("never creates a record deleted in the source; updates an existing one once under an update policy", () => {
    const closed = { closed: true }
    const c = classify(
      [
        prepared("1", {}, "ignore"),
        prepared("2", closed, "update"),
        prepared("3", closed, "update"),
        prepared("4", closed, "update"),
      ],
      idMap(row("1", "old"), row("2", "old"), row("3", hashFields(closed))),
    )
    assert.deepStrictEqual(
      c.updates.map((u) => [u.record.key, u.targetId]),
      [["2", "id-2"]],
    )
    assert.deepStrictEqual(
      c.unchanged.map((p) => p.key),
      ["1", "3"],
    )
    assert.deepStrictEqual(c.deleted, ["4"])
    assert.strictEqual(c.creates.length, 0)
  })

  it("updates a record whose parent has a new id, though its content is the same; not when its ids are the same", () => {
    const contact = prepared("1", { name: "Ann", companyId: ref("company", 7) })
    const then = (id: string) => () => id
    const kept = writtenHash(contact.hash, contact.fields, then("100"))!
    assert.notStrictEqual(kept, contact.hash, "the ids are part of the hash kept")
    const existing = idMap(row("1", kept))
    // The company was deleted and created again (or adopted, or relinked): id 100 is now 250.
    const moved = classify([contact], existing, then("250"))
    assert.deepStrictEqual(
      moved.updates.map((u) => [u.record.key, u.targetId]),
      [["1", "id-1"]],
    )
    const same = classify([contact], existing, then("100"))
    assert.deepStrictEqual(
      same.unchanged.map((p) => p.key),
      ["1"],
    )
    assert.strictEqual(same.updates.length, 0)
  })

  it("leaves a record whose parent has no id now (deleted, not yet back), and one an older version hashed without ids", () => {
    const contact = prepared("1", { name: "Ann", companyId: ref("company", 7) })
    const kept = writtenHash(contact.hash, contact.fields, () => "100")!
    const orphan = classify([contact], idMap(row("1", kept)), () => undefined)
    assert.deepStrictEqual(
      orphan.unchanged.map((p) => p.key),
      ["1"],
    )
    const older = classify([contact], idMap(row("1", contact.hash)), () => "250")
    assert.deepStrictEqual(
      older.unchanged.map((p) => p.key),
      ["1"],
    )
    // Content that changed is an update whatever the links: its resolving then says why a link is missing.
    const renamed = prepared("1", { name: "Ann B.", companyId: ref("company", 7) })
    assert.strictEqual(classify([renamed], idMap(row("1", kept)), () => undefined).updates.length, 1)
  })
})
