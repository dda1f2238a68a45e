/**
 * Multi-fields on update: the diff against the portal's values (pure), and a contact kept equal to
 * its source over HTTP against the emulator, which follows the vendor's `fm` rules (an id-less
 * value is added, an existing id changed, an id with an empty value removed).
 */
import type * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import * as MultiFields from "../src/internal/connection/multiFields.js"
import { connect, ids, items, methodCount, portal, webhookSink } from "./support.js"

const existing = (
  ...values: ReadonlyArray<readonly [number, string, string, string]>
): ReadonlyArray<MultiFields.Existing> =>
  values.map(([id, typeId, value, valueType]) => ({ id, typeId, value, valueType }))

describe("multi-field diff", () => {
  it("pairs existing values in id order with the source's in order: equal ones untouched", () => {
    const have = existing(
      [12, "EMAIL", "b@x", "HOME"],
      [10, "EMAIL", "a@x", "WORK"],
      [11, "PHONE", "+1", "MOBILE"],
    )
    // Same values: nothing to send, whatever order the portal listed them in.
    assert.deepStrictEqual(
      MultiFields.diff(
        {
          EMAIL: Bitrix24.emails("a@x", { value: "b@x", type: "HOME" }),
          PHONE: Bitrix24.phones({ value: "+1", type: "MOBILE" }),
        },
        have,
      ),
      {},
    )
    // A changed value or type is sent by id; types the fields do not hold are left alone.
    assert.deepStrictEqual(
      MultiFields.diff({ EMAIL: Bitrix24.emails("a@x", { value: "b@x", type: "WORK" }) }, have),
      { 12: { typeId: "EMAIL", valueType: "WORK", value: "b@x" } },
    )
    assert.deepStrictEqual(
      MultiFields.diff({ PHONE: Bitrix24.phones({ value: "+2", type: "MOBILE" }) }, have),
      {
        11: { typeId: "PHONE", valueType: "MOBILE", value: "+2" },
      },
    )
  })

  it("adds surplus source values without id and removes surplus existing ones by id", () => {
    const have = existing([10, "EMAIL", "a@x", "WORK"], [12, "EMAIL", "b@x", "HOME"])
    assert.deepStrictEqual(
      MultiFields.diff(
        {
          EMAIL: Bitrix24.emails("a@x", { value: "b@x", type: "HOME" }, "c@x"),
          WEB: Bitrix24.webs("x.example"),
        },
        have,
      ),
      {
        n0: { typeId: "EMAIL", valueType: "WORK", value: "c@x" },
        n1: { typeId: "WEB", valueType: "WORK", value: "x.example" },
      },
    )
    // The middle one removed: the second existing value takes the third source value's place.
    assert.deepStrictEqual(MultiFields.diff({ EMAIL: Bitrix24.emails("b@x") }, have), {
      10: { typeId: "EMAIL", valueType: "WORK", value: "b@x" },
      12: { typeId: "EMAIL", value: "" },
    })
    // None in the source (an empty list or null): every existing value removed.
    for (const none of [[], null]) {
      assert.deepStrictEqual(MultiFields.diff({ EMAIL: none }, have), {
        10: { typeId: "EMAIL", value: "" },
        12: { typeId: "EMAIL", value: "" },
      })
    }
  })

  it("reorders by changing values in place, so the portal's id order follows the source", () => {
    const have = existing([10, "EMAIL", "a@x", "WORK"], [12, "EMAIL", "b@x", "WORK"])
    assert.deepStrictEqual(MultiFields.diff({ EMAIL: Bitrix24.emails("b@x", "a@x") }, have), {
      10: { typeId: "EMAIL", valueType: "WORK", value: "b@x" },
      12: { typeId: "EMAIL", valueType: "WORK", value: "a@x" },
    })
  })
})

interface Values {
  readonly PHONE: ReadonlyArray<ReadonlyArray<string>>
  readonly EMAIL: ReadonlyArray<ReadonlyArray<string>>
  /** Every value's id, ascending. */
  readonly ids: ReadonlyArray<number>
}

/** The contact's values as the portal keeps them: per type, in id order (the order `fm` shows). */
const portalValues = (emulator: Emulator.Service, id: string) =>
  Effect.map(emulator.items(3), (stored): Values => {
    const item = stored.find((s) => String(s.id) === id)!
    const allIds: Array<number> = []
    const values = (name: string) => {
      const list = [
        ...((item[name] ?? []) as ReadonlyArray<{ ID: number; VALUE: string; VALUE_TYPE: string }>),
      ].sort((a, b) => a.ID - b.ID)
      allIds.push(...list.map((v) => v.ID))
      return list.map((v) => [v.VALUE, v.VALUE_TYPE])
    }
    const PHONE = values("PHONE")
    const EMAIL = values("EMAIL")
    return { PHONE, EMAIL, ids: allIds.sort((a, b) => a - b) }
  })

describe("multi-fields on update, over HTTP", () => {
  it.scopedLive("a contact with two e-mails and a phone stays equal to its source through every change", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      const source = (emails: ReadonlyArray<string>, phone: string) => ({
        EMAIL: Bitrix24.emails(
          ...emails.map((e, i) => ({ value: e, type: i === 0 ? ("WORK" as const) : ("HOME" as const) })),
        ),
        PHONE: Bitrix24.phones({ value: phone, type: "MOBILE" }),
      })
      const expected = (emails: ReadonlyArray<string>, phone: string) => ({
        PHONE: [[phone, "MOBILE"]],
        EMAIL: emails.map((e, i) => [e, i === 0 ? "WORK" : "HOME"]),
      })
      const [id] = ids(
        yield* conn.create(
          Bitrix24.contact,
          items("contact", 1, () => ({ name: "Ann", ...source(["a@x", "b@x"], "+1") })),
        ),
      )
      const sync = (emails: ReadonlyArray<string>, phone: string) =>
        Effect.gen(function* () {
          const [result] = yield* conn.update(Bitrix24.contact, [
            { sourceKey: "0", targetId: id!, fields: source(emails, phone) },
          ])
          assert.deepStrictEqual(result, { _tag: "Written", targetId: id! })
          const values = yield* portalValues(emulator, id!)
          assert.deepStrictEqual({ PHONE: values.PHONE, EMAIL: values.EMAIL }, expected(emails, phone))
          return values.ids
        })
      const created = yield* portalValues(emulator, id!)
      assert.deepStrictEqual({ PHONE: created.PHONE, EMAIL: created.EMAIL }, expected(["a@x", "b@x"], "+1"))

      // The phone changed: changed in place, the e-mails untouched.
      const afterPhone = yield* sync(["a@x", "b@x"], "+2")
      assert.deepStrictEqual(afterPhone, created.ids)
      // An e-mail added: one new value.
      const afterAdd = yield* sync(["a@x", "b@x", "c@x"], "+2")
      assert.strictEqual(afterAdd.length, 4)
      // An e-mail removed (the middle one).
      const afterRemove = yield* sync(["a@x", "c@x"], "+2")
      assert.strictEqual(afterRemove.length, 3)
      // Nothing changed: no update command at all, the values keep their ids.
      const commands = (yield* emulator.counters).byCommand["crm.item.update"]
      const afterNothing = yield* sync(["a@x", "c@x"], "+2")
      assert.deepStrictEqual(afterNothing, afterRemove)
      assert.strictEqual((yield* emulator.counters).byCommand["crm.item.update"], commands)
      // The order changed: the primary e-mail is now c@x.
      const afterOrder = yield* sync(["c@x", "a@x"], "+2")
      assert.deepStrictEqual(afterOrder, afterRemove)
      // Each update read the values once, with one crm.item.list.
      assert.strictEqual(yield* methodCount(emulator, "crm.item.list"), 5)
    }),
  )

  it.scopedLive("an update whose multi-fields equal the portal's sends the other fields without fm", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      const fields = (name: string) => ({ name, EMAIL: Bitrix24.emails("a@x", "b@x") })
      const [id] = ids(
        yield* conn.create(
          Bitrix24.contact,
          items("contact", 1, () => fields("Ann")),
        ),
      )
      const before = yield* portalValues(emulator, id!)
      const [result] = yield* conn.update(Bitrix24.contact, [
        { sourceKey: "0", targetId: id!, fields: fields("Bea") },
      ])
      assert.strictEqual(result!._tag, "Written")
      const stored = (yield* emulator.items(3)).find((s) => String(s.id) === id)!
      assert.strictEqual(stored.name, "Bea")
      assert.deepStrictEqual(yield* portalValues(emulator, id!), before)
      assert.strictEqual((yield* emulator.counters).byCommand["crm.item.update"], 1)
      // The portal recorded no ignored fm element: none was sent.
      assert.deepStrictEqual(
        (yield* emulator.ignoredFields).filter((f) => f.field.startsWith("fm")),
        [],
      )
    }),
  )

  it.scopedLive("reads 50 items per crm.item.list; an item the portal lacks answers NOT_FOUND", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      const created = ids(
        yield* conn.create(
          Bitrix24.company,
          items("company", 60, (i) => ({ title: `C${i}`, PHONE: Bitrix24.phones(`+49 ${i}`) })),
        ),
      )
      const results = yield* conn.update(
        Bitrix24.company,
        created.map((id, i) => ({
          sourceKey: String(i),
          targetId: i === 1 ? "999999" : id,
          fields: { PHONE: i % 2 === 0 ? Bitrix24.phones(`+49 ${i}`) : Bitrix24.phones(`+49 ${i}`, "+1 0") },
        })),
      )
      assert.strictEqual(results[1]!._tag === "Rejected" && results[1]!.code, "NOT_FOUND")
      assert.strictEqual(results.filter((r) => r._tag === "Written").length, 59)
      // Two groups of 50 and 10 updates: one read each.
      assert.strictEqual(yield* methodCount(emulator, "crm.item.list"), 2)
      // Only the odd ones changed (and the missing one was sent for the portal to refuse).
      assert.strictEqual((yield* emulator.counters).byCommand["crm.item.update"], 30)
      const stored = new Map((yield* emulator.items(4)).map((s) => [String(s.id), s]))
      for (const [i, id] of created.entries()) {
        if (i === 1) continue
        const phones = (stored.get(id)!.PHONE as ReadonlyArray<{ VALUE: string }>).map((p) => p.VALUE)
        assert.deepStrictEqual(phones, i % 2 === 0 ? [`+49 ${i}`] : [`+49 ${i}`, "+1 0"])
      }
    }),
  )
})
