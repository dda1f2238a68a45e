/**
 * A link that goes away in the source reaches the sink as `null`, so the sink can clear it on
 * update: `ref()` of a missing key is `null`, `Reference.resolve` keeps empty fields as `null`,
 * and the payload hash sees the change from a link to none.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterAll } from "vitest"
import * as Pipeline from "../src/Pipeline.js"
import * as Progress from "../src/Progress.js"
import * as Reference from "../src/Reference.js"
import * as Runner from "../src/Runner.js"
import * as StateStoreSql from "../src/StateStoreSql.js"
import * as MemorySink from "./fixtures/MemorySink.js"
import * as MemorySource from "./fixtures/MemorySource.js"

describe("Reference", () => {
  it("ref of a missing key is null; resolve keeps empty fields as null", () => {
    assert.isNull(Reference.ref("company", null))
    assert.isNull(Reference.ref("company", undefined))
    assert.isNull(Reference.ref("company", ""))
    const resolved = Reference.resolve(
      {
        title: "x",
        companyId: Reference.ref("company", null),
        parentId4: undefined,
        contactIds: [Reference.ref("contact", 1), Reference.ref("contact", 2)],
      },
      (r) => (r.key === "1" ? "10" : undefined),
    )
    assert.deepStrictEqual(resolved.fields, {
      title: "x",
      companyId: null,
      parentId4: null,
      contactIds: ["10", undefined],
    })
    assert.deepStrictEqual(
      resolved.unresolved.map((u) => [u.field, u.entity, u.key]),
      [["contactIds", "contact", "2"]],
    )
  })
})

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-unlink-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))
const StoreLayer = Layer.merge(StateStoreSql.layerPglite(stateDir), Progress.silent)

layer(StoreLayer, { timeout: 120_000, excludeTestServices: true })("Runner and links", (it) => {
  it.effect("a company cleared in the source updates the contact with companyId null", () =>
    Effect.gen(function* () {
      const data = {
        companies: [{ id: 1, name: "Acme" }],
        people: [
          { id: 1, name: "Ann", company_id: 1 as number | null },
          { id: 2, name: "Bob", company_id: null as number | null },
        ],
      }
      const source = MemorySource.make("legacy", data)
      const target = MemorySink.make()
      const pipeline = Pipeline.make({
        name: "test-unlink",
        sink: target.sink,
        entities: {
          company: {
            from: source.table("companies", { key: "id" }),
            to: target.target("company"),
            map: (r: { name: string }) => ({ title: r.name }),
          },
          contact: {
            from: source.table("people", { key: "id" }),
            to: target.target("contact"),
            references: ["company"],
            map: (r: { name: string; company_id: number | null }) => ({
              name: r.name,
              companyId: Reference.ref("company", r.company_id),
            }),
          },
        },
      })
      const first = yield* Runner.run(pipeline)
      assert.strictEqual(first.status, "succeeded")
      const byOrigin = () => new Map([...target.items("contact").values()].map((c) => [c.originId, c]))
      // Created without a company: the field reaches the sink as null (the sink leaves it out).
      assert.deepStrictEqual(byOrigin().get("contact:2")!.fields, { name: "Bob", companyId: null })
      assert.isString(byOrigin().get("contact:1")!.fields.companyId)

      data.people[0]!.company_id = null
      const second = yield* Runner.run(pipeline)
      const contact = second.entities.find((e) => e.entity === "contact")!
      // The payload hash saw the link go away: one update, the other record unchanged.
      assert.strictEqual(contact.updated, 1)
      assert.strictEqual(contact.unchanged, 1)
      assert.isNull(byOrigin().get("contact:1")!.fields.companyId)
    }),
  )
})
