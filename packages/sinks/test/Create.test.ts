/**
 * `create` and `find` against the emulator over HTTP: batching, identity, per-item errors, and
 * finding what a call that lost its answer created.
 */

import { ref } from "@b24etl/core/Reference"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import { connect, ids, items, methodCount, portal, webhookSink } from "./support.js"

describe("create", () => {
  it.scopedLive(
    "without packing, imports 45 companies in 3 requests of at most 20, stamped with their origin",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal()
        assert.strictEqual((yield* connect(webhookSink(emulator))).batchSize, 1000)
        const conn = yield* connect(webhookSink(emulator, { packing: "off" }))
        assert.strictEqual(conn.batchSize, 20)
        assert.strictEqual(conn.concurrency, 4)
        const batch = items("company", 45, (i) => ({
          title: `Company ${i}`,
          PHONE: Bitrix24.phones(`+1 555 01${String(i).padStart(2, "0")}`, { value: "", type: "MOBILE" }),
          opened: i % 2 === 0,
        }))
        const results = yield* conn.create(Bitrix24.company, batch)
        assert.strictEqual(results.length, 45)
        assert.isTrue(results.every((r) => r._tag === "Written"))
        assert.strictEqual(yield* methodCount(emulator, "crm.item.batchImport"), 3)
        const log = (yield* emulator.requestLog).filter((e) => e.method === "crm.item.batchImport")
        assert.deepStrictEqual(
          log.map((e) => e.items),
          [20, 20, 5],
        )
        const stored = yield* emulator.items(4)
        assert.strictEqual(stored.length, 45)
        const byOrigin = new Map(stored.map((s) => [s.originId, s]))
        results.forEach((r, i) => {
          const item = byOrigin.get(`company:${i}`)!
          assert.strictEqual(String(item.id), r._tag === "Written" ? r.targetId : "")
          assert.strictEqual(item.originatorId, "legacy-crm")
          assert.strictEqual(item.title, `Company ${i}`)
          assert.strictEqual(item.opened, i % 2 === 0 ? "Y" : "N")
          assert.deepStrictEqual(
            (item.PHONE as ReadonlyArray<{ VALUE: string; VALUE_TYPE: string }>).map((p) => [
              p.VALUE,
              p.VALUE_TYPE,
            ]),
            [[`+1 555 01${String(i).padStart(2, "0")}`, "WORK"]],
          )
        })
      }),
  )

  it.scopedLive("answers per-item errors index-aligned, with the portal's codes", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ entityTypes: [{ entityTypeId: 3, required: ["lastName"] }] })
      const conn = yield* connect(webhookSink(emulator))
      const [company] = yield* conn.create(
        Bitrix24.company,
        items("company", 1, () => ({ title: "Acme" })),
      )
      const companyId = company!._tag === "Written" ? company!.targetId : ""
      const results = yield* conn.create(Bitrix24.contact, [
        { sourceKey: "1", originId: "contact:1", fields: { name: "Ann", lastName: "Lee", companyId } },
        { sourceKey: "2", originId: "contact:2", fields: { name: "Bob" } },
        { sourceKey: "3", originId: "contact:3", fields: { name: "Cy", lastName: "Ng", companyId: 999_999 } },
        { sourceKey: "4", originId: "contact:4", fields: { name: "Di", lastName: "Ox", PHONE: "555" } },
        {
          sourceKey: "5",
          originId: "contact:5",
          fields: { name: "Ed", lastName: "Po", companyId: ref("company", 7) },
        },
        { sourceKey: "6", originId: "contact:6", fields: { name: "Flo", lastName: "Qi" } },
      ])
      assert.deepStrictEqual(
        results.map((r) => r._tag),
        ["Written", "Rejected", "Rejected", "Rejected", "Rejected", "Written"],
      )
      const [, required, link, phone, reference] = results
      assert.strictEqual(required!._tag === "Rejected" && required!.code, "CRM_FIELD_ERROR_REQUIRED")
      assert.strictEqual(link!._tag === "Rejected" && link!.code, "CRM_FIELD_ERROR_VALUE_NOT_VALID")
      assert.strictEqual(link!._tag === "Rejected" && link!.field, "companyId")
      // A malformed multi-field would fail the whole call on the portal: it fails only its item.
      assert.strictEqual(phone!._tag === "Rejected" && phone!.field, "PHONE")
      assert.strictEqual(reference!._tag === "Rejected" && reference!.code, "UNRESOLVED_REFERENCE")
      const contacts = yield* emulator.items(3)
      assert.deepStrictEqual(contacts.map((c) => c.originId).sort(), ["contact:1", "contact:6"])
      assert.strictEqual(yield* methodCount(emulator, "crm.item.batchImport"), 2)
    }),
  )

  it.scopedLive("a request the portal refuses as a whole is split to the item at fault", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      const batch = items("deal", 8, (i) => ({
        title: `Deal ${i}`,
        ...(i === 5 ? { contactIds: "12" } : {}),
      }))
      const results = yield* conn.create(Bitrix24.deal, batch)
      assert.deepStrictEqual(
        results.map((r) => r._tag),
        ["Written", "Written", "Written", "Written", "Written", "Rejected", "Written", "Written"],
      )
      assert.strictEqual(results[5]!._tag === "Rejected" && results[5]!.code, "100")
      assert.strictEqual((yield* emulator.items(2)).length, 7)
    }),
  )

  it.scopedLive("invoices and smart processes carry xmlId = originator:originId, and find by it", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ entityTypes: [{ entityTypeId: 1220, title: "Projects" }] })
      const conn = yield* connect(webhookSink(emulator), { originator: "erp" })
      const projects = Bitrix24.spa(1220, "project")
      assert.strictEqual(projects.name, "project")
      const created = yield* conn.create(
        projects,
        items("project", 3, (i) => ({ title: `P${i}` })),
      )
      const invoices = yield* conn.create(
        Bitrix24.invoice,
        items("invoice", 2, (i) => ({ title: `I${i}` })),
      )
      const stored = yield* emulator.items(1220)
      assert.deepStrictEqual(stored.map((s) => s.xmlId).sort(), [
        "erp:project:0",
        "erp:project:1",
        "erp:project:2",
      ])
      assert.deepStrictEqual((yield* emulator.items(31)).map((s) => s.xmlId).sort(), [
        "erp:invoice:0",
        "erp:invoice:1",
      ])
      const found = yield* conn.find(
        projects,
        items("project", 4, () => ({})),
      )
      assert.deepStrictEqual(
        [...found.entries()].sort(),
        ids(created).map((id, i) => [`project:${i}`, id] as [string, string]),
      )
      const foundInvoices = yield* conn.find(
        Bitrix24.invoice,
        items("invoice", 2, () => ({})),
      )
      assert.deepStrictEqual([...foundInvoices.values()], [...ids(invoices)])
    }),
  )
})

describe("find", () => {
  it.scopedLive("after a reset that lost the answer, finds exactly the items the portal created", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      const batch = items("company", 20, (i) => ({ title: `Company ${i}` }))
      yield* emulator.setFaults({ resetAfterCommit: 1 })
      const failed = yield* Effect.either(conn.create(Bitrix24.company, batch))
      yield* emulator.setFaults({})
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left.reason, "ambiguous")
      }
      // Sent once, never repeated blindly.
      assert.strictEqual(yield* methodCount(emulator, "crm.item.batchImport"), 1)
      const stored = yield* emulator.items(4)
      assert.strictEqual(stored.length, 20)
      const found = yield* conn.find(Bitrix24.company, [...batch, ...items("company", 3, () => ({}), 100)])
      assert.strictEqual(found.size, 20)
      for (const s of stored) assert.strictEqual(found.get(String(s.originId)), String(s.id))
      // Another originator's items with the same originId are not ours.
      const other = yield* connect(webhookSink(emulator), { originator: "someone-else" })
      assert.strictEqual((yield* other.find(Bitrix24.company, batch)).size, 0)
    }),
  )

  it.scopedLive("a timeout after sending is ambiguous; the portal went on and find sees the items", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator, { timeout: "200 millis" }))
      // The connection reads the type's fields (crm.item.fields) once, before the slow import.
      yield* conn.plan([{ entity: "company", target: Bitrix24.company, fields: ["title"] }])
      yield* emulator.setLatency(600)
      const batch = items("company", 5, (i) => ({ title: `Slow ${i}` }))
      const failed = yield* Effect.either(conn.create(Bitrix24.company, batch))
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left.reason, "ambiguous")
        assert.strictEqual(failed.left.code, "TIMEOUT")
      }
      yield* emulator.setLatency(0)
      // The portal is still handling the call the client gave up on: wait until it has.
      while ((yield* emulator.items(4)).length < 5) yield* Effect.sleep("10 millis")
      const found = yield* conn.find(Bitrix24.company, batch)
      assert.strictEqual(found.size, 5)
      assert.strictEqual(yield* methodCount(emulator, "crm.item.batchImport"), 1)
    }),
  )

  it.scopedLive("pages past 50 matches per filter with >id", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ rateLimit: { burst: 0 } })
      const conn = yield* connect(webhookSink(emulator, { rate: "unlimited", concurrency: 8 }))
      const batch = items("contact", 130, (i) => ({ name: `N${i}` }))
      const created = yield* conn.create(Bitrix24.contact, batch)
      // An earlier tool created duplicates of some: the lowest id wins.
      yield* emulator.seed(3, { originatorId: "legacy-crm", originId: "contact:7", name: "dup" })
      const found = yield* conn.find(Bitrix24.contact, batch)
      assert.strictEqual(found.size, 130)
      batch.forEach((item, i) => assert.strictEqual(found.get(item.originId), ids(created)[i]))
      const lists = (yield* emulator.requestLog).filter((e) => e.method === "crm.item.list").length
      assert.isAtLeast(lists, 3)
    }),
  )
})
