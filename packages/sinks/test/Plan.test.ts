/**
 * `plan`, `update` and dry runs against the emulator over HTTP.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import { batchesWith, connect, ids, items, methodCount, portal, webhookSink } from "./support.js"

describe("plan", () => {
  it.scopedLive("names misspelt fields with the nearest real one, required fields, and missing types", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({
        entityTypes: [
          { entityTypeId: 3, required: ["lastName"] },
          { entityTypeId: 4, userFields: [{ name: "ufCrm_1721244707107", type: "money" }] },
        ],
      })
      const conn = yield* connect(webhookSink(emulator))
      const report = yield* conn.plan([
        {
          entity: "company",
          target: Bitrix24.company,
          fields: ["titel", "PHONE", "ufCrm_1721244707107", "UF_CRM_1721244707107", "revenu"],
          count: 1000,
        },
        {
          entity: "contact",
          target: Bitrix24.contact,
          fields: ["name", "lastName", "COMPANY_ID"],
          count: 3000,
        },
        { entity: "person", target: Bitrix24.contact, fields: ["name", "originId"] },
        { entity: "project", target: Bitrix24.spa(1030), fields: ["title"] },
      ])
      const byField = new Map(report.problems.map((p) => [`${p.entity}.${p.field ?? ""}`, p.message]))
      assert.include(byField.get("company.titel"), 'did you mean "title"?')
      assert.include(byField.get("company.revenu"), 'did you mean "revenue"?')
      assert.include(byField.get("contact.COMPANY_ID"), 'did you mean "companyId"?')
      assert.include(byField.get("person.lastName"), "requires")
      assert.include(byField.get("person.originId"), "sets")
      assert.include(byField.get("project."), "does not exist")
      assert.strictEqual(report.problems.length, 6)
      // 50 + 150 imports at 2/s after a burst of 50.
      assert.strictEqual(Duration.toSeconds(report.estimate!), 75)
      assert.include(report.notes.join("\n"), "2 requests/s, burst 50")
      // Fields are read once per type per connection.
      yield* conn.plan([{ entity: "company", target: Bitrix24.company, fields: ["title"] }])
      assert.strictEqual(yield* methodCount(emulator, "crm.item.fields"), 3)
    }),
  )

  it.scopedLive("quotes without an identity field on the portal are reported", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      const report = yield* conn.plan([{ entity: "quote", target: Bitrix24.quote, fields: ["title"] }])
      assert.isTrue(report.problems.some((p) => p.field === "originId" && p.message.includes("duplicate")))
      // find cannot look them up, so it answers nothing rather than list every quote.
      const found = yield* conn.find(
        Bitrix24.quote,
        items("quote", 2, () => ({})),
      )
      assert.strictEqual(found.size, 0)
      assert.strictEqual(yield* methodCount(emulator, "crm.item.list"), 0)
    }),
  )
})

describe("update", () => {
  it.scopedLive(
    "sends up to 50 crm.item.update commands per batch, multi-fields as fm, errors per item",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal()
        const conn = yield* connect(webhookSink(emulator))
        assert.strictEqual(conn.updateBatchSize, 50)
        const created = ids(
          yield* conn.create(
            Bitrix24.company,
            items("company", 60, (i) => ({ title: `C${i}` })),
          ),
        )
        const updates = created.map((id, i) => ({
          sourceKey: String(i),
          targetId: i === 1 ? "999999" : id,
          fields: {
            title: `New ${i}`,
            PHONE: Bitrix24.phones({ value: `+49 30 ${i}`, type: "MOBILE" }),
            opened: false,
            comments: i === 2 ? "multi\nline & special=chars?" : undefined,
          },
        }))
        const results = yield* conn.update(Bitrix24.company, updates)
        assert.strictEqual(results.length, 60)
        assert.strictEqual(results[1]!._tag === "Rejected" && results[1]!.code, "NOT_FOUND")
        assert.strictEqual(results.filter((r) => r._tag === "Written").length, 59)
        assert.strictEqual(results[0]!._tag === "Written" && results[0]!.targetId, created[0])
        const counters = yield* emulator.counters
        assert.strictEqual(yield* batchesWith(emulator, "crm.item.update"), 2)
        assert.strictEqual(counters.byCommand["crm.item.update"], 60)
        const stored = new Map((yield* emulator.items(4)).map((s) => [String(s.id), s]))
        const first = stored.get(created[0]!)!
        assert.strictEqual(first.title, "New 0")
        assert.strictEqual(first.opened, "N")
        assert.deepStrictEqual(
          (first.PHONE as ReadonlyArray<{ VALUE: string; VALUE_TYPE: string }>).map((p) => [
            p.VALUE,
            p.VALUE_TYPE,
          ]),
          [["+49 30 0", "MOBILE"]],
        )
        assert.strictEqual(stored.get(created[2]!)!.comments, "multi\nline & special=chars?")
        assert.strictEqual(stored.get(created[1]!)!.title, "C1")
      }),
  )
})

describe("dry run", () => {
  it.scopedLive("checks, plans and finds for real; creates and updates answer fake ids without writing", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const real = yield* connect(webhookSink(emulator))
      yield* real.create(
        Bitrix24.company,
        items("company", 2, () => ({ title: "exists" })),
      )
      const dry = yield* connect(webhookSink(emulator), { dryRun: true })
      yield* dry.check
      const plan = yield* dry.plan([{ entity: "company", target: Bitrix24.company, fields: ["title"] }])
      assert.include(plan.notes.join("\n"), "dry run")
      const found = yield* dry.find(
        Bitrix24.company,
        items("company", 3, () => ({})),
      )
      assert.strictEqual(found.size, 2)
      const created = yield* dry.create(
        Bitrix24.company,
        items("company", 25, (i) => ({
          title: `t${i}`,
          ...(i === 3 ? { EMAIL: [{ VALUE: "x@y", VALUE_TYPE: "FAX" }] } : {}),
        })),
      )
      assert.strictEqual(created.length, 25)
      assert.strictEqual(created[3]!._tag === "Rejected" && created[3]!.field, "EMAIL")
      const fake = ids(created).filter((id) => !id.startsWith("rejected"))
      assert.strictEqual(fake.length, 24)
      assert.isTrue(fake.every((id) => Number(id) < 0))
      assert.strictEqual(new Set(fake).size, 24)
      const updated = yield* dry.update(Bitrix24.company, [
        { sourceKey: "0", targetId: "1", fields: { title: "x" } },
      ])
      assert.deepStrictEqual(updated, [{ _tag: "Written", targetId: "1" }])
      const counters = yield* emulator.counters
      assert.strictEqual(counters.byMethod["crm.item.batchImport"], 1)
      assert.strictEqual(counters.byMethod.batch ?? 0, 0)
      assert.strictEqual((yield* emulator.items(4)).length, 2)
    }),
  )
})
