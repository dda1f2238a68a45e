/**
 * The methods' portal semantics over HTTP: bodies as JSON and as PHP-style forms, paging, filters,
 * ordering, batch, field descriptions, default titles, and the import rules for createdTime.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Emulator from "../src/Emulator.js"
import * as EntityTypes from "../src/EntityTypes.js"
import { assertError, get, post } from "./support.js"

const config: Emulator.EmulatorConfig = {
  rateLimit: { burst: 0 },
  entityTypes: [
    ...EntityTypes.documentationExamples,
    {
      entityTypeId: 1030,
      title: "Shipments",
      parents: [2],
      userFields: [{ name: "ufCrm5_Weight", type: "double" }],
    },
  ],
}

const fresh = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  yield* emulator.reset
  return emulator
})

layer(Emulator.layer(config), { excludeTestServices: true })("portal semantics", (it) => {
  it.effect("a form-urlencoded batchImport with nested keys, on a .json URL", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      const answer = yield* post(
        `${emulator.webhookUrl}crm.item.batchImport.json`,
        {
          entityTypeId: 3,
          data: [
            { name: "Ann", lastName: "Lee", PHONE: [{ VALUE: "+1 555 0100", VALUE_TYPE: "MOBILE" }] },
            { name: "Bob", EMAIL: [{ VALUE: "bob@example.com", VALUE_TYPE: "WORK" }] },
          ],
        },
        { form: true },
      )
      assert.strictEqual(answer.status, 200)
      assert.deepStrictEqual(answer.body.result.items, [{ item: { id: 1 } }, { item: { id: 2 } }])
      const ann = emulator.store.get(3, 1)!
      // Stored as crm_multifield values, each with its own id.
      assert.deepStrictEqual(ann.PHONE, [
        { ID: 1, TYPE_ID: "PHONE", VALUE_TYPE: "MOBILE", VALUE: "+1 555 0100" },
      ])
      assert.strictEqual(ann.fullName, "Ann Lee")
      // GET with the parameters in the query string works too.
      const got = yield* get(`${emulator.webhookUrl}crm.item.get.json?entityTypeId=3&id=2`)
      assert.strictEqual(got.body.result.item.name, "Bob")
      // crm.item.get shows multi-fields as `fm` only (b24restdocs api-reference/crm/universal/crm-item-get.md).
      assert.deepStrictEqual(got.body.result.item.fm, [
        { id: 2, valueType: "WORK", value: "bob@example.com", typeId: "EMAIL" },
      ])
      assert.isUndefined(got.body.result.item.EMAIL)
    }),
  )

  it.effect("crm.item.list pages by 50 with total and next; start=-1 gives no total", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      for (let i = 1; i <= 120; i++) yield* emulator.seed(4, { title: `Company ${i}`, revenue: i })
      const url = `${emulator.webhookUrl}crm.item.list`
      const first = yield* post(url, { entityTypeId: 4, select: ["id", "title"] })
      assert.strictEqual(first.body.result.items.length, 50)
      assert.strictEqual(first.body.total, 120)
      assert.strictEqual(first.body.next, 50)
      assert.deepStrictEqual(first.body.result.items[0], { id: 1, title: "Company 1" })
      const last = yield* post(url, { entityTypeId: 4, select: ["id"], start: 100 })
      assert.strictEqual(last.body.result.items.length, 20)
      assert.strictEqual(last.body.total, 120)
      assert.isUndefined(last.body.next)
      const fast = yield* post(url, {
        entityTypeId: 4,
        select: ["id"],
        order: { id: "ASC" },
        filter: { ">id": 60 },
        start: -1,
      })
      assert.strictEqual(fast.body.result.items.length, 50)
      assert.strictEqual(fast.body.result.items[0].id, 61)
      assert.isUndefined(fast.body.total)
      assert.isUndefined(fast.body.next)
      for (let id = 58; id <= 70; id++) emulator.store.delete(4, id)
      const gap = yield* post(url, { entityTypeId: 4, select: ["id"], filter: { ">id": 55 }, start: -1 })
      assert.deepStrictEqual(
        gap.body.result.items.slice(0, 4).map((i: { id: number }) => i.id),
        [56, 57, 71, 72],
      )
      assert.strictEqual(gap.body.result.items.length, 50)
      const desc = yield* post(url, { entityTypeId: 4, select: ["id"], order: { revenue: "DESC" } })
      assert.strictEqual(desc.body.result.items[0].id, 120)
    }),
  )

  it.effect("crm.item.list filters: = != > >= < <= @ !@ and %", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      for (let i = 1; i <= 10; i++) {
        yield* emulator.seed(2, {
          title: i % 2 === 0 ? `Even ${i}` : `Odd ${i}`,
          opportunity: i * 100,
          originatorId: i <= 5 ? "legacy" : "other",
          originId: `d:${i}`,
          createdTime: `2024-01-${String(i).padStart(2, "0")}T10:00:00+00:00`,
          contactIds: i === 3 ? [7, 8] : [],
        })
      }
      const ids = (filter: Record<string, unknown>) =>
        Effect.map(
          post(`${emulator.webhookUrl}crm.item.list`, { entityTypeId: 2, select: ["id"], filter }),
          (a) => a.body.result.items.map((i: { id: number }) => i.id),
        )
      assert.deepStrictEqual(
        yield* ids({ "=originatorId": "legacy", "@originId": ["d:2", "d:4", "d:9"] }),
        [2, 4],
      )
      assert.deepStrictEqual(yield* ids({ originId: "d:7" }), [7])
      assert.deepStrictEqual(yield* ids({ "!=originatorId": "legacy", "<opportunity": 800 }), [6, 7])
      assert.deepStrictEqual(yield* ids({ ">opportunity": 800 }), [9, 10])
      assert.deepStrictEqual(yield* ids({ ">=opportunity": "800", "<=opportunity": 900 }), [8, 9])
      assert.deepStrictEqual(
        yield* ids({ "!@originId": ["d:1", "d:2", "d:3", "d:4", "d:5", "d:6"] }),
        [7, 8, 9, 10],
      )
      assert.deepStrictEqual(yield* ids({ "%title": "even", "<id": 5 }), [2, 4])
      assert.deepStrictEqual(yield* ids({ ">=createdTime": "2024-01-09T00:00:00+00:00" }), [9, 10])
      assert.deepStrictEqual(yield* ids({ "@id": [3, "5", 99] }), [3, 5])
      assert.deepStrictEqual(yield* ids({ contactIds: 8 }), [3])
    }),
  )

  it.effect("default titles, add/update/get/delete, fm on add, links checked on update", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      const url = (m: string) => `${emulator.webhookUrl}${m}`
      const imported = yield* post(url("crm.item.batchImport"), {
        entityTypeId: 1,
        data: [{}, { name: "x" }],
      })
      assert.deepStrictEqual(imported.body.result.items, [{ item: { id: 1 } }, { item: { id: 2 } }])
      assert.strictEqual(emulator.store.get(1, 2)!.title, "Lead #2")
      const company = yield* post(url("crm.item.add"), {
        entityTypeId: 4,
        fields: { fm: [{ typeId: "PHONE", valueType: "WORK", value: "+49 30 1" }] },
      })
      assert.strictEqual(company.body.result.item.title, "Company #1")
      assert.strictEqual(company.body.result.item.fm[0].value, "+49 30 1")
      const deal = yield* post(url("crm.item.add"), { entityTypeId: 2, fields: { companyId: 1 } })
      assert.strictEqual(deal.body.result.item.title, "Deal #1")
      assert.strictEqual(deal.body.result.item.stageId, "NEW")
      const badUpdate = yield* post(url("crm.item.update"), {
        entityTypeId: 2,
        id: 1,
        fields: { companyId: 77 },
      })
      assertError(badUpdate, 400, "CRM_FIELD_ERROR_VALUE_NOT_VALID")
      const updated = yield* post(url("crm.item.update"), {
        entityTypeId: 2,
        id: 1,
        fields: { title: "Big deal", opportunity: "12.5" },
      })
      assert.strictEqual(updated.body.result.item.title, "Big deal")
      assert.strictEqual(updated.body.result.item.opportunity, 12.5)
      assert.strictEqual(updated.body.result.item.companyId, 1)
      const removed = yield* post(url("crm.item.delete"), { entityTypeId: 2, id: 1 })
      assert.deepStrictEqual(removed.body.result, [])
      assertError(yield* post(url("crm.item.get"), { entityTypeId: 2, id: 1 }), 400, "NOT_FOUND")
      assertError(yield* post(url("crm.item.delete"), { entityTypeId: 2, id: 1 }), 400, "NOT_FOUND")
      // Ids are per type: the next deal is 2, the next SPA item is 1.
      const spa = yield* post(url("crm.item.import"), {
        entityTypeId: 1030,
        fields: { parentId2: 0, xmlId: "s:1" },
      })
      assert.deepStrictEqual(spa.body.result, { item: { id: 1 } })
      assert.strictEqual(emulator.store.get(1030, 1)!.title, "Shipments #1")
      const byXml = yield* post(url("crm.item.list"), { entityTypeId: 1030, filter: { "=xmlId": "s:1" } })
      assert.strictEqual(byXml.body.total, 1)
    }),
  )

  it.effect(
    "crm.item.fields describes system, multi, link, parent and user fields; crm.type.list the SPAs",
    () =>
      Effect.gen(function* () {
        const emulator = yield* fresh
        const fields = (entityTypeId: number, extra: Record<string, unknown> = {}) =>
          Effect.map(
            post(`${emulator.webhookUrl}crm.item.fields`, { entityTypeId, ...extra }),
            (a) => a.body.result.fields,
          )
        const deal = yield* fields(2)
        for (const name of [
          "title",
          "companyId",
          "contactIds",
          "opportunity",
          "currencyId",
          "stageId",
          "assignedById",
        ]) {
          assert.isDefined(deal[name], name)
        }
        for (const name of [
          "comments",
          "originatorId",
          "originId",
          "createdTime",
          "updatedTime",
          "parentId1220",
        ]) {
          assert.isDefined(deal[name], name)
        }
        assert.strictEqual(deal.contactIds.isMultiple, true)
        assert.strictEqual(deal.contactIds.type, "crm_contact")
        assert.strictEqual(deal.createdTime.isReadOnly, true)
        assert.strictEqual(deal.ufCrm_1721244707107.upperName, "UF_CRM_1721244707107")
        assert.strictEqual(deal.ufCrm_1721244707107.isDynamic, true)
        assert.strictEqual(deal.parentId1220.type, "crm_entity")
        assert.isUndefined(deal.PHONE)
        const contact = yield* fields(3)
        for (const name of ["name", "lastName", "secondName", "PHONE", "EMAIL", "WEB", "IM", "companyIds"]) {
          assert.isDefined(contact[name], name)
        }
        assert.isUndefined(contact.title)
        assert.strictEqual(contact.PHONE.type, "crm_multifield")
        const spa = yield* fields(1302, { useOriginalUfNames: "Y" })
        assert.strictEqual(spa.UF_CRM_44_1721812814433.type, "enumeration")
        assert.strictEqual(spa.UF_CRM_44_1721812814433.items.length, 4)
        assert.isDefined(spa.xmlId)
        const types = yield* post(`${emulator.webhookUrl}crm.type.list`)
        assert.deepStrictEqual(
          types.body.result.types.map((t: { entityTypeId: number }) => t.entityTypeId),
          [1220, 1302, 1030],
        )
        assert.deepStrictEqual(types.body.result.types[2].relations.parent, [
          { entityTypeId: 2, isChildrenListEnabled: "Y" },
        ])
      }),
  )

  it.effect("batch: array commands, empty parts as [], totals, $result references, halt", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      const answer = yield* post(`${emulator.webhookUrl}batch`, {
        halt: 0,
        cmd: [
          "crm.item.add?entityTypeId=4&fields[title]=Acme",
          "crm.item.add?entityTypeId=2&fields[title]=Deal&fields[companyId]=$result[0][item][id]",
          "crm.item.list?entityTypeId=2&select[]=id&select[]=companyId",
        ],
      })
      assert.strictEqual(answer.status, 200)
      const r = answer.body.result
      assert.strictEqual(r.result.length, 3)
      assert.strictEqual(r.result[1].item.companyId, 1)
      assert.deepStrictEqual(r.result[2].items, [{ id: 1, companyId: 1 }])
      assert.deepStrictEqual(r.result_error, [])
      assert.deepStrictEqual(r.result_total, { "2": 1 })
      assert.deepStrictEqual(r.result_next, [])
      assert.strictEqual(r.result_time.length, 3)
      const halted = yield* post(`${emulator.webhookUrl}batch`, {
        halt: 1,
        cmd: { a: "crm.item.get?entityTypeId=2&id=999", b: "profile" },
      })
      assert.deepStrictEqual(halted.body.result.result, [])
      assert.strictEqual(halted.body.result.result_error.a.error, "NOT_FOUND")
      const log = yield* emulator.requestLog
      assert.deepStrictEqual(log.at(-1)!.commands, ["crm.item.get"])
      assert.strictEqual(JSON.stringify(log).includes(emulator.webhookUrl.split("/").at(-2)!), false)
    }),
  )

  it.effect(
    "import dates: an administrator sets createdTime; future, out-of-order and non-admin refused",
    () =>
      Effect.gen(function* () {
        const emulator = yield* fresh
        const answer = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, {
          entityTypeId: 4,
          data: [
            { title: "2019", createdTime: "2019-05-01T10:00:00+03:00", createdBy: 5 },
            { title: "2020", createdTime: "2020-01-01T00:00:00Z", updatedTime: "2021-01-01T00:00:00Z" },
            { title: "earlier than the last", createdTime: "2019-06-01T00:00:00Z" },
            { title: "future", createdTime: "2999-01-01T00:00:00Z" },
            {
              title: "updated before created",
              createdTime: "2022-01-01T00:00:00Z",
              updatedTime: "2021-01-01T00:00:00Z",
            },
            { title: "no date" },
          ],
        })
        const items = answer.body.result.items
        assert.deepStrictEqual(items[0], { item: { id: 1 } })
        assert.deepStrictEqual(items[1], { item: { id: 2 } })
        assert.strictEqual(items[2].error, "CRM_FIELD_ERROR_VALUE_NOT_VALID")
        assert.strictEqual(items[2].error_description, 'Invalid value for field "createdTime"')
        assert.strictEqual(items[3].error_description, 'Invalid value for field "createdTime"')
        assert.strictEqual(items[4].error_description, 'Invalid value for field "updatedTime"')
        assert.deepStrictEqual(items[5], { item: { id: 3 } })
        const first = emulator.store.get(4, 1)!
        assert.strictEqual(first.createdTime, "2019-05-01T07:00:00+00:00")
        assert.strictEqual(first.createdBy, 5)
        assert.strictEqual(emulator.store.get(4, 2)!.updatedTime, "2021-01-01T00:00:00+00:00")
        // A user who is not an administrator may not set them.
        const token = yield* emulator.oauth.issueToken(2)
        const denied = yield* post(`${emulator.oauth.restUrl}crm.item.import`, {
          auth: token.accessToken,
          entityTypeId: 4,
          fields: { title: "x", createdTime: "2023-01-01T00:00:00Z" },
        })
        assertError(denied, 400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", 'Invalid value for field "createdTime"')
        const allowed = yield* post(`${emulator.oauth.restUrl}crm.item.import`, {
          auth: token.accessToken,
          entityTypeId: 4,
          fields: { title: "x" },
        })
        assert.strictEqual(allowed.status, 200)
        // crm.item.add ignores createdTime (read-only there).
        const added = yield* post(`${emulator.webhookUrl}crm.item.add`, {
          entityTypeId: 4,
          fields: { title: "y", createdTime: "2001-01-01T00:00:00Z" },
        })
        assert.notStrictEqual(added.body.result.item.createdTime, "2001-01-01T00:00:00+00:00")
      }),
  )
})
