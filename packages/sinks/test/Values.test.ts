/**
 * Values a field cannot take, by the field's type from `crm.item.fields`: text in a number field,
 * a list value the field does not list, an unknown multi-field type. Each rejects only its own item,
 * naming the field, on create and on update.
 */
import * as EntityTypes from "@b24etl/bitrix24-emulator/EntityTypes"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import * as Connection from "../src/Bitrix24Connection.js"
import { connect, ids, items, portal, webhookSink } from "./support.js"

const known: Connection.TypeFields = {
  byName: new Map<string, Connection.FieldInfo>([
    [
      "opportunity",
      {
        name: "opportunity",
        type: "double",
        title: "Amount",
        upperName: "OPPORTUNITY",
        isRequired: false,
        isReadOnly: false,
        isMultiple: false,
      },
    ],
    [
      "ufCrm5_1",
      {
        name: "ufCrm5_1",
        type: "integer",
        title: "Seats",
        upperName: "UF_CRM_5_1",
        isRequired: false,
        isReadOnly: false,
        isMultiple: true,
      },
    ],
    [
      "ufCrm5_2",
      {
        name: "ufCrm5_2",
        type: "enumeration",
        title: "Size",
        upperName: "UF_CRM_5_2",
        isRequired: false,
        isReadOnly: false,
        isMultiple: false,
        items: [
          { ID: "79", VALUE: "Small" },
          { ID: "80", VALUE: "Large" },
        ],
      },
    ],
    [
      "stageId",
      {
        name: "stageId",
        type: "crm_status",
        title: "Stage",
        upperName: "STAGE_ID",
        isRequired: false,
        isReadOnly: false,
        isMultiple: false,
      },
    ],
  ]),
  byUpperName: new Map([
    ["OPPORTUNITY", "opportunity"],
    ["UF_CRM_5_1", "ufCrm5_1"],
    ["UF_CRM_5_2", "ufCrm5_2"],
    ["STAGE_ID", "stageId"],
  ]),
}

const rejection = (fields: Record<string, unknown>) => {
  const r = Connection.prepareFields(fields, known)
  return r._tag === "Rejected" ? [r.code, r.field, r.message] : r._tag
}

describe("values a field cannot take", () => {
  it("numbers must be numbers; list fields take one of their IDs; empty values pass", () => {
    for (const ok of [12.5, "12.50", " 3 ", "1e3", null, "", undefined])
      assert.strictEqual(rejection({ opportunity: ok }), "Ok")
    assert.deepStrictEqual(rejection({ opportunity: "abc" }), [
      "CRM_FIELD_ERROR_VALUE_NOT_VALID",
      "opportunity",
      'field "opportunity" (double) cannot take "abc": not a number',
    ])
    assert.strictEqual(rejection({ opportunity: "1,5" })[1], "opportunity")
    assert.strictEqual(rejection({ OPPORTUNITY: true })[1], "OPPORTUNITY")
    // Each value of a multiple field, by its original name too.
    assert.strictEqual(rejection({ UF_CRM_5_1: [1, "2", "three"] })[1], "UF_CRM_5_1")
    assert.strictEqual(rejection({ ufCrm5_1: [1, "2"] }), "Ok")
    assert.strictEqual(rejection({ ufCrm5_2: "80" }), "Ok")
    assert.strictEqual(rejection({ ufCrm5_2: 79 }), "Ok")
    assert.deepStrictEqual(rejection({ ufCrm5_2: "Large" }), [
      "CRM_FIELD_ERROR_VALUE_NOT_VALID",
      "ufCrm5_2",
      'field "ufCrm5_2" takes the list value\'s ID: 80 for "Large"',
    ])
    assert.deepStrictEqual(rejection({ ufCrm5_2: "81" }), [
      "CRM_FIELD_ERROR_VALUE_NOT_VALID",
      "ufCrm5_2",
      'field "ufCrm5_2" has no list value "81"; it lists 79 (Small), 80 (Large)',
    ])
    // crm.item.fields lists no stages: a stage is not checked here.
    assert.strictEqual(rejection({ stageId: "ANYTHING" }), "Ok")
    // An unknown multi-field type, as before.
    assert.deepStrictEqual(rejection({ EMAIL: [{ VALUE: "a@x", VALUE_TYPE: "FAX" }] }).slice(0, 2), [
      "CRM_FIELD_ERROR_VALUE_NOT_VALID",
      "EMAIL",
    ])
    // Fields the type does not describe are not checked (plan reports unknown names).
    assert.strictEqual(rejection({ whatever: "abc" }), "Ok")
  })

  it.scopedLive("rejects only the item with the bad value, naming the field, on create and update", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ entityTypes: EntityTypes.documentationExamples })
      const conn = yield* connect(webhookSink(emulator))
      const spa = Bitrix24.spa(1302, "custom")
      const created = yield* conn.create(spa, [
        ...items("custom", 1, () => ({
          title: "ok",
          ufCrm44_1721812814433: "80",
          ufCrm44_1721812948498: "4.5",
        })),
        ...items("custom", 1, () => ({ title: "list", ufCrm44_1721812814433: "List item #2" }), 1),
        ...items("custom", 1, () => ({ title: "number", ufCrm44_1721812948498: "four" }), 2),
        ...items("custom", 1, () => ({ title: "amount", opportunity: "n/a" }), 3),
      ])
      assert.deepStrictEqual(
        created.map((r) => (r._tag === "Written" ? "Written" : r.field)),
        ["Written", "ufCrm44_1721812814433", "ufCrm44_1721812948498", "opportunity"],
      )
      assert.strictEqual((yield* emulator.items(1302)).length, 1)

      const deals = ids(
        yield* conn.create(
          Bitrix24.deal,
          items("deal", 2, (i) => ({ title: `D${i}` })),
        ),
      )
      const updated = yield* conn.update(Bitrix24.deal, [
        { sourceKey: "0", targetId: deals[0]!, fields: { opportunity: "12 EUR" } },
        { sourceKey: "1", targetId: deals[1]!, fields: { opportunity: "12", ufCrm_1721244707107: 3 } },
      ])
      assert.strictEqual(updated[0]!._tag === "Rejected" && updated[0]!.field, "opportunity")
      assert.strictEqual(updated[1]!._tag, "Written")
      const stored = yield* emulator.items(2)
      assert.deepStrictEqual(
        stored.map((s) => s.opportunity),
        [0, 12],
      )
    }),
  )
})
