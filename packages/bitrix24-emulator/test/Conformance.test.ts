/**
 * The vendor's request examples for crm.item.import and crm.item.batchImport, sent over HTTP,
 * and every documented error code that applies, provoked.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Emulator from "../src/Emulator.js"
import * as EntityTypes from "../src/EntityTypes.js"
import * as Examples from "./examples.js"
import { assertError, assertTime, get, post } from "./support.js"

/** What the deal examples link to: company 5, contacts 4 and 5, item 2 of the smart process 1220. */
const seedDealLinks = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  yield* emulator.reset
  yield* emulator.seed(EntityTypes.COMPANY, { title: "Company 5" }, 5)
  yield* emulator.seed(EntityTypes.CONTACT, { name: "Four" }, 4)
  yield* emulator.seed(EntityTypes.CONTACT, { name: "Five" }, 5)
  yield* emulator.seed(1220, { title: "Project 2" }, 2)
  return emulator
})

const config: Emulator.EmulatorConfig = {
  entityTypes: EntityTypes.documentationExamples,
  rateLimit: { burst: 0 },
}

layer(Emulator.layer(config), { excludeTestServices: true })("vendor request examples", (it) => {
  it.effect("crm.item.import: the deal example, by webhook, answers {result:{item:{id}}, time}", () =>
    Effect.gen(function* () {
      const emulator = yield* seedDealLinks
      const answer = yield* post(`${emulator.webhookUrl}crm.item.import`, Examples.importDeal)
      assert.strictEqual(answer.status, 200)
      assert.deepStrictEqual(Object.keys(answer.body.result), ["item"])
      assert.deepStrictEqual(answer.body.result.item, { id: 1 })
      assertTime(answer.body.time)
      const deal = emulator.store.get(EntityTypes.DEAL, 1)!
      assert.strictEqual(deal.title, Examples.dealFields.title)
      assert.strictEqual(deal.companyId, 5)
      assert.deepStrictEqual(deal.contactIds, [4, 5])
      assert.strictEqual(deal.parentId1220, 2)
      assert.strictEqual(deal.ufCrm_1721244707107, 1111.1)
      assert.strictEqual(deal.opportunity, 999.99)
      assert.strictEqual(deal.stageId, "C9:UC_KN8KFI")
      // The example misspells isRecurring: the portal ignores the field, the emulator records it.
      const ignored = yield* emulator.ignoredFields
      assert.deepStrictEqual(
        ignored.map((f) => f.field),
        ["isReccurring"],
      )
    }),
  )

  it.effect("crm.item.import: the deal example, with an OAuth access token", () =>
    Effect.gen(function* () {
      const emulator = yield* seedDealLinks
      const token = yield* emulator.oauth.issueToken()
      const answer = yield* post(`${emulator.oauth.restUrl}crm.item.import`, {
        ...Examples.importDeal,
        auth: token.accessToken,
      })
      assert.strictEqual(answer.status, 200)
      assert.deepStrictEqual(answer.body.result, { item: { id: 1 } })
      assertTime(answer.body.time)
    }),
  )

  it.effect("crm.item.batchImport: the two-deal example answers index-aligned {item:{id}}", () =>
    Effect.gen(function* () {
      const emulator = yield* seedDealLinks
      const answer = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, Examples.batchImportDeals)
      assert.strictEqual(answer.status, 200)
      assert.deepStrictEqual(answer.body.result, { items: [{ item: { id: 1 } }, { item: { id: 2 } }] })
      assertTime(answer.body.time)
      assert.strictEqual(emulator.store.get(EntityTypes.DEAL, 2)!.categoryId, 4)
      const token = yield* emulator.oauth.issueToken()
      const again = yield* post(`${emulator.oauth.restUrl}crm.item.batchImport`, {
        ...Examples.batchImportDeals,
        auth: token.accessToken,
      })
      assert.deepStrictEqual(again.body.result, { items: [{ item: { id: 3 } }, { item: { id: 4 } }] })
    }),
  )

  it.effect("crm.item.import and batchImport: the SPA example with eight user fields", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const one = yield* post(`${emulator.webhookUrl}crm.item.import`, Examples.importSpa)
      assert.strictEqual(one.status, 200)
      assert.deepStrictEqual(one.body.result, { item: { id: 1 } })
      assertTime(one.body.time)
      const batch = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, Examples.batchImportSpa)
      assert.strictEqual(batch.status, 200)
      assert.deepStrictEqual(batch.body.result, { items: [{ item: { id: 2 } }, { item: { id: 3 } }] })
      const item = emulator.store.get(1302, 2)!
      assert.deepStrictEqual(item.ufCrm44_1721812885588, ["example.com", "second-example.com"])
      assert.strictEqual(item.ufCrm44_1721812915476, "300|USD")
      assert.strictEqual(item.title, "Custom SPA #2")
      assert.deepStrictEqual(yield* emulator.ignoredFields, [])
      // The OAuth variants of the same two examples.
      const token = yield* emulator.oauth.issueToken()
      const oneByApp = yield* post(`${emulator.oauth.restUrl}crm.item.import`, {
        ...Examples.importSpa,
        auth: token.accessToken,
      })
      assert.deepStrictEqual(oneByApp.body.result, { item: { id: 4 } })
      const batchByApp = yield* post(`${emulator.oauth.restUrl}crm.item.batchImport`, {
        ...Examples.batchImportSpa,
        auth: token.accessToken,
      })
      assert.deepStrictEqual(batchByApp.body.result, { items: [{ item: { id: 5 } }, { item: { id: 6 } }] })
      // The same fields come back under their original names when asked.
      const got = yield* post(`${emulator.webhookUrl}crm.item.get`, {
        entityTypeId: 1302,
        id: 2,
        useOriginalUfNames: "Y",
      })
      assert.strictEqual(
        got.body.result.item.UF_CRM_44_1721812760630,
        "String for custom field of type String",
      )
    }),
  )
})

layer(Emulator.layer({ entityTypes: [{ entityTypeId: 2, required: ["title"] }] }), {
  excludeTestServices: true,
})("the documented batchImport answer", (it) => {
  it.effect("one item created, one refused with CRM_FIELD_ERROR_REQUIRED, index-aligned", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      for (let i = 0; i < 14; i++) yield* emulator.seed(EntityTypes.DEAL, { title: `Old ${i + 1}` })
      const answer = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, {
        entityTypeId: 2,
        data: [{ title: "Has a title" }, { opportunity: 10 }],
      })
      assert.strictEqual(answer.status, 200)
      assert.deepStrictEqual(answer.body.result, {
        items: [
          { item: { id: 15 } },
          { error: "CRM_FIELD_ERROR_REQUIRED", error_description: 'The field "Title" is required' },
        ],
      })
      assertTime(answer.body.time)
    }),
  )
})

layer(Emulator.layer(config), { excludeTestServices: true })("documented errors", (it) => {
  it.effect("MAX_IMPORT_BATCH_SIZE_EXCEEDED: 21 items fail the whole call", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const data = Array.from({ length: 21 }, (_, i) => ({ title: `c${i}` }))
      const answer = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, { entityTypeId: 4, data })
      assertError(answer, 400, "MAX_IMPORT_BATCH_SIZE_EXCEEDED", "You cannot import more than 20 items")
      assert.strictEqual(emulator.store.count(4), 0)
      const twenty = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, {
        entityTypeId: 4,
        data: data.slice(0, 20),
      })
      assert.strictEqual(twenty.body.result.items.length, 20)
    }),
  )

  it.effect("NOT_FOUND: an unknown entityTypeId, and a missing item", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      const answer = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, {
        entityTypeId: 1999,
        data: [{}],
      })
      assertError(answer, 400, "NOT_FOUND", "Smart process not found")
      const single = yield* post(`${emulator.webhookUrl}crm.item.import`, { entityTypeId: 1999, fields: {} })
      assertError(single, 400, "NOT_FOUND")
      const missing = yield* post(`${emulator.webhookUrl}crm.item.get`, { entityTypeId: 2, id: 99999 })
      assertError(missing, 400, "NOT_FOUND")
    }),
  )

  it.effect("INVALID_CREDENTIALS: a wrong webhook code or user id", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      const wrongCode = yield* post(`${emulator.url}/rest/1/not-the-code/crm.item.list`, { entityTypeId: 2 })
      assertError(wrongCode, 401, "INVALID_CREDENTIALS")
      const code = emulator.webhookUrl.split("/").at(-2)
      const wrongUser = yield* post(`${emulator.url}/rest/7/${code}/crm.item.list`, { entityTypeId: 2 })
      assertError(wrongUser, 401, "INVALID_CREDENTIALS")
    }),
  )

  it.effect("NO_AUTH_FOUND: an OAuth call without a token or with an unknown one", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      const none = yield* post(`${emulator.oauth.restUrl}crm.item.list`, { entityTypeId: 2 })
      assertError(none, 401, "NO_AUTH_FOUND", "Wrong authorization data")
      const unknown = yield* post(`${emulator.oauth.restUrl}crm.item.list`, { entityTypeId: 2, auth: "nope" })
      assertError(unknown, 401, "NO_AUTH_FOUND")
    }),
  )

  it.effect(
    "expired_token, then the refresh endpoint gives a working pair and rotates the refresh token",
    () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.Emulator
        const pair = yield* emulator.oauth.issueToken()
        const ok = yield* post(`${emulator.oauth.restUrl}profile`, { auth: pair.accessToken })
        assert.strictEqual(ok.status, 200)
        yield* emulator.oauth.expireAccessToken(pair.accessToken)
        const expired = yield* post(`${emulator.oauth.restUrl}profile`, { auth: pair.accessToken })
        assertError(expired, 401, "expired_token")
        const query = new URLSearchParams({
          grant_type: "refresh_token",
          client_id: emulator.oauth.clientId,
          client_secret: emulator.oauth.clientSecret,
          refresh_token: pair.refreshToken,
        })
        const refreshed = yield* get(`${emulator.oauth.tokenUrl}?${query}`)
        assert.strictEqual(refreshed.status, 200)
        assert.strictEqual(refreshed.body.expires_in, 3600)
        assert.notStrictEqual(refreshed.body.access_token, pair.accessToken)
        const again = yield* post(`${emulator.oauth.restUrl}profile`, { auth: refreshed.body.access_token })
        assert.strictEqual(again.status, 200)
        const reused = yield* get(`${emulator.oauth.tokenUrl}?${query}`)
        assertError(reused, 400, "invalid_grant")
      }),
  )

  it.effect("ERROR_BATCH_LENGTH_EXCEEDED: 51 commands", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      const cmd = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`c${i}`, "profile"]))
      const answer = yield* post(`${emulator.webhookUrl}batch`, { halt: 0, cmd })
      assertError(answer, 400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
      const fifty = yield* post(`${emulator.webhookUrl}batch`, {
        halt: 0,
        cmd: Object.fromEntries(Object.entries(cmd).slice(0, 50)),
      })
      assert.strictEqual(Object.keys(fifty.body.result.result).length, 50)
    }),
  )

  it.effect("ERROR_BATCH_METHOD_NOT_ALLOWED: a batch inside a batch", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      const answer = yield* post(`${emulator.webhookUrl}batch`, {
        halt: 0,
        cmd: { inner: "batch?cmd[x]=profile", me: "profile" },
      })
      assert.strictEqual(answer.status, 200)
      assert.deepStrictEqual(answer.body.result.result_error, {
        inner: {
          error: "ERROR_BATCH_METHOD_NOT_ALLOWED",
          error_description: "Method is not allowed for batch usage",
        },
      })
      assert.strictEqual(answer.body.result.result.me.ID, "1")
    }),
  )

  it.effect("code 100: a multiple field given a scalar fails the whole request", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const phone = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, {
        entityTypeId: 3,
        data: [
          { name: "Ok", PHONE: [{ VALUE: "+1 555", VALUE_TYPE: "WORK" }] },
          { name: "Bad", PHONE: "+1 555" },
        ],
      })
      assertError(phone, 400, "100", "Expected iterable value for multiple field, but got string instead")
      assert.strictEqual(emulator.store.count(3), 0)
      const contacts = yield* post(`${emulator.webhookUrl}crm.item.import`, {
        entityTypeId: 2,
        fields: { contactIds: 4 },
      })
      assertError(contacts, 400, "100", "Expected iterable value for multiple field, but got integer instead")
      const json = yield* Effect.promise(() =>
        fetch(`${emulator.webhookUrl}crm.item.list`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{not json",
        }).then(async (r) => ({ status: r.status, body: await r.json() })),
      )
      assertError(json, 400, "100")
    }),
  )

  it.effect("CRM_FIELD_ERROR_VALUE_NOT_VALID: a link to a missing item fails that item only", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      yield* emulator.seed(EntityTypes.COMPANY, { title: "Acme" }, 1)
      const answer = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, {
        entityTypeId: 2,
        data: [
          { title: "ok", companyId: 1 },
          { title: "bad company", companyId: 2 },
          { title: "bad contact", contactIds: [1] },
          { title: "company id given as a contact", contactId: 1 },
          { title: "bad parent", parentId1220: 9 },
          { title: "bad phone type is not a deal field", PHONE: [{ VALUE: "1", VALUE_TYPE: "WORK" }] },
        ],
      })
      assert.strictEqual(answer.status, 200)
      const items = answer.body.result.items
      assert.deepStrictEqual(items[0], { item: { id: 1 } })
      assert.deepStrictEqual(items[1], {
        error: "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        error_description: 'Invalid value for field "companyId"',
      })
      assert.strictEqual(items[2].error_description, 'Invalid value for field "contactIds"')
      assert.strictEqual(items[3].error_description, 'Invalid value for field "contactId"')
      assert.strictEqual(items[4].error_description, 'Invalid value for field "parentId1220"')
      assert.deepStrictEqual(items[5], { item: { id: 2 } })
      assert.strictEqual(emulator.store.count(2), 2)
      const badType = yield* post(`${emulator.webhookUrl}crm.item.import`, {
        entityTypeId: 3,
        fields: { name: "x", EMAIL: [{ VALUE: "a@b.c", VALUE_TYPE: "MOBILE" }] },
      })
      assertError(badType, 400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", 'Invalid value for field "EMAIL"')
    }),
  )

  it.effect("ERROR_METHOD_NOT_FOUND for a method the emulator does not serve", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      assertError(yield* post(`${emulator.webhookUrl}crm.deal.fancy`), 404, "ERROR_METHOD_NOT_FOUND")
    }),
  )
})

describe("error bodies", () => {
  layer(Emulator.layer({ webhookUserId: 1 }), { excludeTestServices: true })((it) => {
    it.effect("carry only error and error_description", () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.Emulator
        const answer = yield* post(`${emulator.url}/rest/1/wrong/profile`)
        assert.deepStrictEqual(Object.keys(answer.body), ["error", "error_description"])
      }),
    )
  })
})
