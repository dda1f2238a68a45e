/**
 * Multi-fields (`fm`) and links on crm.item.add / crm.item.update / crm.item.get / crm.item.list
 * over HTTP, each case following a sentence of the vendor's documentation (github.com/bitrix24/b24restdocs,
 * paths below). Short names used in the comments:
 * - update: `api-reference/crm/universal/crm-item-update.md`
 * - add: `api-reference/crm/universal/crm-item-add.md`
 * - get: `api-reference/crm/universal/crm-item-get.md`
 * - list: `api-reference/crm/universal/crm-item-list.md`
 * - tutorial: `tutorials/crm/how-to-edit-crm-objects/how-to-change-email-or-phone.md`
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Emulator from "../src/Emulator.js"
import * as EntityTypes from "../src/EntityTypes.js"
import * as Store from "../src/Store.js"
import { post } from "./support.js"

const config: Emulator.EmulatorConfig = {
  entityTypes: EntityTypes.documentationExamples,
  rateLimit: { burst: 0 },
}

interface Fm {
  readonly id: number
  readonly typeId: string
  readonly valueType: string
  readonly value: string
}

const CONTACT = EntityTypes.CONTACT

layer(Emulator.layer(config), { excludeTestServices: true })("multi-fields (fm)", (it) => {
  const setup = Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    yield* emulator.reset
    const call = (method: string, body: Record<string, unknown>) =>
      post(`${emulator.webhookUrl}${method}`, body)
    const fmOf = (id: number) =>
      Effect.map(
        call("crm.item.get", { entityTypeId: CONTACT, id }),
        (a): ReadonlyArray<Fm> => a.body.result.item.fm,
      )
    const update = (id: number, fields: Record<string, unknown>) =>
      Effect.map(call("crm.item.update", { entityTypeId: CONTACT, id, fields }), (a) => {
        assert.strictEqual(a.status, 200, JSON.stringify(a.body))
        return a.body.result.item.fm as ReadonlyArray<Fm>
      })
    /** The tutorial's contact: two e-mails and two phones. */
    const klaus = Effect.gen(function* () {
      const added = yield* call("crm.item.add", {
        entityTypeId: CONTACT,
        fields: {
          name: "Klaus",
          lastName: "Weber",
          fm: [
            { typeId: "EMAIL", valueType: "WORK", value: "work_email@nomail.com" },
            { typeId: "EMAIL", valueType: "HOME", value: "home_email@nomail.com" },
            { typeId: "PHONE", valueType: "WORK", value: "+493012345678" },
            { typeId: "PHONE", valueType: "MOBILE", value: "+493076543210" },
          ],
        },
      })
      assert.strictEqual(added.status, 200)
      return added.body.result.item as { id: number; fm: ReadonlyArray<Fm> }
    })
    return { emulator, call, fmOf, update, klaus }
  })

  it.effect("add: an fm array creates every value; add and get return them with ids", () =>
    Effect.gen(function* () {
      const { fmOf, klaus } = yield* setup
      // tutorial: "In step 1, the `fm` field is an array: every element adds a new entry."
      // tutorial: "The `crm.item.add` method has already returned the `fm` array with the identifiers"
      const contact = yield* klaus
      assert.deepStrictEqual(contact.fm, [
        { id: 1, valueType: "WORK", value: "work_email@nomail.com", typeId: "EMAIL" },
        { id: 2, valueType: "HOME", value: "home_email@nomail.com", typeId: "EMAIL" },
        { id: 3, valueType: "WORK", value: "+493012345678", typeId: "PHONE" },
        { id: 4, valueType: "MOBILE", value: "+493076543210", typeId: "PHONE" },
      ])
      // get: "`id` — the record identifier (required for updating or deleting via crm.item.update)"
      assert.deepStrictEqual(yield* fmOf(contact.id), contact.fm)
      // data-types.md#crm_multifield: "ID — Identifier of the multifield value": one sequence, so a
      // second contact's values get new ids.
      const second = yield* klaus
      assert.deepStrictEqual(
        second.fm.map((v) => v.id),
        [5, 6, 7, 8],
      )
    }),
  )

  it.effect("update: n0 keys add a value, the item's other values stay", () =>
    Effect.gen(function* () {
      const { update, klaus } = yield* setup
      const contact = yield* klaus
      // update: "**Add** a new value — use keys `n0`, `n1`, `n2` ..."
      const fm = yield* update(contact.id, {
        fm: { n0: { typeId: "PHONE", valueType: "HOME", value: "+4930999" } },
      })
      assert.deepStrictEqual(fm, [
        ...contact.fm,
        { id: 5, valueType: "HOME", value: "+4930999", typeId: "PHONE" },
      ])
    }),
  )

  it.effect("update: an id the item does not have adds a value", () =>
    Effect.gen(function* () {
      const { update, fmOf, klaus } = yield* setup
      const other = yield* klaus
      const contact = yield* klaus
      // update: "If no multipool exists with this id, a new multipool will be created."
      // tutorial: "the contact has no entry with the `id` you passed. In this case the method does not
      // refuse but creates a new entry" — also when the id is another item's value.
      const fm = yield* update(contact.id, {
        fm: {
          "999": { typeId: "EMAIL", valueType: "WORK", value: "new@example.com" },
          [String(other.fm[0]!.id)]: { typeId: "EMAIL", valueType: "WORK", value: "not.theirs@example.com" },
        },
      })
      assert.deepStrictEqual(
        fm.map((v) => v.value),
        // Integer keys of a JSON object come in ascending order: other's id (1) before 999.
        [...contact.fm.map((v) => v.value), "not.theirs@example.com", "new@example.com"],
      )
      assert.isTrue(fm.slice(4).every((v) => v.id > 8))
      assert.deepStrictEqual(yield* fmOf(other.id), other.fm, "the other contact's value is not touched")
    }),
  )

  it.effect(
    "update: an existing id with a value changes it, with an empty value deletes it; absent values stay",
    () =>
      Effect.gen(function* () {
        const { update, fmOf, klaus } = yield* setup
        const contact = yield* klaus
        const [work, home, phone, mobile] = contact.fm
        // update: "**Update** an existing value — use the numeric `id` of the record"
        // update: "**Delete** a value — pass the numeric `id` of the record with an empty `value`"
        // update: "Operations can be combined in a single request."
        // tutorial: "The method does not touch entries that are absent from the `fm` object."
        const fm = yield* update(contact.id, {
          fm: {
            [work!.id]: { typeId: "EMAIL", valueType: "WORK", value: "new_work_email@nomail.com" },
            [home!.id]: { typeId: "EMAIL", value: "" },
            [mobile!.id]: { typeId: "PHONE", valueType: "MOBILE", value: "+493055544433" },
          },
        })
        const expected = [
          { ...work!, value: "new_work_email@nomail.com" },
          phone!,
          { ...mobile!, value: "+493055544433" },
        ]
        assert.deepStrictEqual(fm, expected)
        assert.deepStrictEqual(yield* fmOf(contact.id), expected)
        // A change that leaves out valueType keeps the value's type.
        const kept = yield* update(contact.id, { fm: { [mobile!.id]: { typeId: "PHONE", value: "+49301" } } })
        assert.deepStrictEqual(kept[2], { ...mobile!, value: "+49301" })
      }),
  )

  it.effect("update without fm, or with an fm that names no value, leaves the values as they are", () =>
    Effect.gen(function* () {
      const { emulator, update, klaus } = yield* setup
      const contact = yield* klaus
      // update: "Only those fields that need to be changed should be passed in `fields`."
      assert.deepStrictEqual(yield* update(contact.id, { post: "Engineer" }), contact.fm)
      // tutorial: "`typeId` is required in every element of the `fm` object, including deletion. Without
      // it, the method does not return an error but does not perform the operation either"
      const noType = yield* update(contact.id, { fm: { [contact.fm[1]!.id]: { value: "" } } })
      assert.deepStrictEqual(noType, contact.fm)
      // tutorial: "If a string is passed in the `fm` field instead of an array, the method returns no error"
      assert.deepStrictEqual(yield* update(contact.id, { fm: "+49 30 1" }), contact.fm)
      // update: "An incorrect field in `fields` will be ignored." — the page lists `fm`, not `PHONE`.
      const topLevel = yield* update(contact.id, { PHONE: [{ VALUE: "+1", VALUE_TYPE: "WORK" }] })
      assert.deepStrictEqual(topLevel, contact.fm)
      const ignored = (yield* emulator.ignoredFields).map((f) => f.field)
      assert.deepStrictEqual(ignored, [`fm[${contact.fm[1]!.id}]`, "fm", "PHONE"])
    }),
  )

  it.effect(
    "update: an fm list adds its values to the existing ones (what a full list without ids does)",
    () =>
      Effect.gen(function* () {
        const { update, klaus } = yield* setup
        const contact = yield* klaus
        // tutorial: "If the `fm` field is passed to `crm.item.update` as an array rather than an object,
        // the method does not replace the set of multifields but adds new entries to the existing ones"
        const again = contact.fm.map(({ typeId, valueType, value }) => ({ typeId, valueType, value }))
        const fm = yield* update(contact.id, { fm: again })
        assert.strictEqual(fm.length, 8)
        assert.deepStrictEqual(
          fm.map((v) => v.value),
          [...again, ...again].map((v) => v.value),
        )
      }),
  )

  it.effect("update by form body inside batch: fields[fm][<id>][...] changes and deletes by id", () =>
    Effect.gen(function* () {
      const { call, fmOf, klaus } = yield* setup
      const contact = yield* klaus
      const [work, home] = contact.fm
      const query = new URLSearchParams({
        entityTypeId: "3",
        id: String(contact.id),
        [`fields[fm][${work!.id}][typeId]`]: "EMAIL",
        [`fields[fm][${work!.id}][value]`]: "changed@nomail.com",
        [`fields[fm][${home!.id}][typeId]`]: "EMAIL",
        [`fields[fm][${home!.id}][value]`]: "",
        "fields[fm][n0][typeId]": "WEB",
        "fields[fm][n0][value]": "https://example.com",
      })
      const answer = yield* call("batch", { halt: 0, cmd: { u: `crm.item.update?${query}` } })
      assert.deepStrictEqual(answer.body.result.result_error, [])
      const fm = yield* fmOf(contact.id)
      assert.deepStrictEqual(
        fm.map((v) => [v.id, v.typeId, v.value]),
        [
          [work!.id, "EMAIL", "changed@nomail.com"],
          [contact.fm[2]!.id, "PHONE", "+493012345678"],
          [contact.fm[3]!.id, "PHONE", "+493076543210"],
          [5, "WEB", "https://example.com"],
        ],
      )
    }),
  )

  it.effect("list: fm with ids comes with select ['*'] only; import's top-level lists get ids too", () =>
    Effect.gen(function* () {
      const { call, klaus } = yield* setup
      const contact = yield* klaus
      // import: "For multi-fields, such as `PHONE`, `EMAIL`, provide data in the crm_multifield structure"
      const imported = yield* call("crm.item.import", {
        entityTypeId: CONTACT,
        fields: { name: "Ann", PHONE: [{ VALUE: "+1 555", VALUE_TYPE: "MOBILE" }] },
      })
      const annId = imported.body.result.item.id
      // list: "The `fm` field ... cannot be explicitly requested via `select`. To receive `fm` in the
      // response, pass `select: ['*']`"
      const all = yield* call("crm.item.list", { entityTypeId: CONTACT, select: ["*"] })
      assert.deepStrictEqual(
        all.body.result.items.map((i: { id: number; fm: ReadonlyArray<Fm> }) => [i.id, i.fm]),
        [
          [contact.id, contact.fm],
          [annId, [{ id: 5, valueType: "MOBILE", value: "+1 555", typeId: "PHONE" }]],
        ],
      )
      assert.isUndefined(all.body.result.items[0].PHONE)
      const picked = yield* call("crm.item.list", { entityTypeId: CONTACT, select: ["id", "fm", "PHONE"] })
      assert.deepStrictEqual(picked.body.result.items[0], { id: contact.id })
      // Deals have no multi-fields, and no fm.
      const deal = yield* call("crm.item.add", { entityTypeId: EntityTypes.DEAL, fields: { title: "D" } })
      assert.isUndefined(deal.body.result.item.fm)
    }),
  )

  it.effect("the store keeps value ids and their sequence across a snapshot", () =>
    Effect.gen(function* () {
      const { emulator, klaus } = yield* setup
      const contact = yield* klaus
      const copy = new Store.Store(emulator.store.types)
      copy.restore(JSON.parse(JSON.stringify(emulator.store.snapshot())))
      assert.deepStrictEqual(copy.get(CONTACT, contact.id), emulator.store.get(CONTACT, contact.id))
      const next = copy.insert(CONTACT, { EMAIL: [{ VALUE: "x@y.z", VALUE_TYPE: "WORK" }] })
      assert.deepStrictEqual(next.EMAIL, [{ VALUE: "x@y.z", VALUE_TYPE: "WORK", ID: 5, TYPE_ID: "EMAIL" }])
    }),
  )
})

layer(Emulator.layer(config), { excludeTestServices: true })("links on update", (it) => {
  const setup = Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    yield* emulator.reset
    yield* emulator.seed(EntityTypes.COMPANY, { title: "Acme" }, 5)
    yield* emulator.seed(EntityTypes.COMPANY, { title: "Beta" }, 6)
    yield* emulator.seed(CONTACT, { name: "Four" }, 4)
    yield* emulator.seed(CONTACT, { name: "Five" }, 5)
    yield* emulator.seed(1220, { title: "Project 2" }, 2)
    const call = (method: string, body: Record<string, unknown>) =>
      post(`${emulator.webhookUrl}${method}`, body)
    const update = (entityTypeId: number, id: number, fields: Record<string, unknown>) =>
      Effect.map(call("crm.item.update", { entityTypeId, id, fields }), (a) => {
        assert.strictEqual(a.status, 200, JSON.stringify(a.body))
        return a.body.result.item
      })
    return { call, update }
  })

  it.effect("a deal's links: left out they stay; 0 and [] clear them", () =>
    Effect.gen(function* () {
      const { call, update } = yield* setup
      const added = yield* call("crm.item.add", {
        entityTypeId: EntityTypes.DEAL,
        fields: { title: "D", companyId: 5, contactIds: [4, 5], parentId1220: 2 },
      })
      const id = added.body.result.item.id
      // deals/contacts/index.md: "The first linked contact becomes the primary one"
      assert.strictEqual(added.body.result.item.contactId, 4)
      // update: "Only those fields that need to be changed should be passed in `fields`."
      const untouched = yield* update(EntityTypes.DEAL, id, { title: "Renamed" })
      assert.deepStrictEqual(
        [untouched.companyId, untouched.contactId, untouched.contactIds, untouched.parentId1220],
        [5, 4, [4, 5], 2],
      )
      // update: "`contactIds` — List of contact identifiers linked to the item" and "Values for multiple
      // fields are passed as an array": the list is the new set. The update page's own response shows
      // an unlinked deal as "companyId": 0, "contactId": 0, "contactIds": [] — 0 is "no link".
      const fewer = yield* update(EntityTypes.DEAL, id, { contactIds: [5] })
      assert.deepStrictEqual([fewer.contactId, fewer.contactIds], [5, [5]])
      const cleared = yield* update(EntityTypes.DEAL, id, { companyId: 0, contactIds: [], parentId1220: 0 })
      assert.deepStrictEqual(
        [cleared.companyId, cleared.contactId, cleared.contactIds, cleared.parentId1220],
        [null, null, [], null],
      )
    }),
  )

  it.effect("a deal's contactId: 0 unlinks the primary contact; the next one becomes primary", () =>
    Effect.gen(function* () {
      const { call, update } = yield* setup
      const added = yield* call("crm.item.add", {
        entityTypeId: EntityTypes.DEAL,
        fields: { title: "D", contactIds: [4, 5] },
      })
      // contacts/company/index.md: "If the primary link is deleted ..., the first of the remaining
      // links becomes the primary one."
      const item = yield* update(EntityTypes.DEAL, added.body.result.item.id, { contactId: 0 })
      assert.deepStrictEqual([item.contactId, item.contactIds], [5, [5]])
    }),
  )

  it.effect("a contact's company: companyId 0 or companyIds [] clears both", () =>
    Effect.gen(function* () {
      const { call, update } = yield* setup
      // contacts/company/index.md: "The company from the primary link is written to the contact field
      // `COMPANY_ID`"
      const added = yield* call("crm.item.add", {
        entityTypeId: CONTACT,
        fields: { name: "C", companyId: 5 },
      })
      const id = added.body.result.item.id
      assert.deepStrictEqual([added.body.result.item.companyId, added.body.result.item.companyIds], [5, [5]])
      const viaId = yield* update(CONTACT, id, { companyId: 0 })
      assert.deepStrictEqual([viaId.companyId, viaId.companyIds], [null, []])
      const two = yield* update(CONTACT, id, { companyIds: [6, 5] })
      assert.deepStrictEqual([two.companyId, two.companyIds], [6, [6, 5]])
      const viaIds = yield* update(CONTACT, id, { companyIds: [] })
      assert.deepStrictEqual([viaIds.companyId, viaIds.companyIds], [null, []])
    }),
  )
})
