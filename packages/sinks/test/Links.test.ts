/**
 * Links without a value: left out of a create, cleared on an update (`0`, `[]`), as the portal
 * removes a link only when the field is sent empty. Over HTTP against the emulator.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import * as Links from "../src/internal/connection/links.js"
import { connect, ids, items, portal, webhookSink } from "./support.js"

describe("links without a value", () => {
  it("are left out of a create and cleared on an update; other nulls pass as they are", () => {
    const fields = {
      title: "x",
      comments: null,
      companyId: null,
      contactId: undefined,
      parentId1220: null,
      contactIds: [5, null, 6],
      companyIds: null,
    }
    assert.deepStrictEqual(Links.forCreate(fields), { title: "x", comments: null, contactIds: [5, 6] })
    // contactIds is given, so it decides the primary contact: the empty contactId is not sent.
    assert.deepStrictEqual(Links.forUpdate(fields), {
      title: "x",
      comments: null,
      companyId: 0,
      parentId1220: 0,
      contactIds: [5, 6],
      companyIds: [],
    })
    assert.deepStrictEqual(Links.forUpdate({ contactId: null, contactIds: null }), {
      contactId: 0,
      contactIds: [],
    })
  })

  it.scopedLive("a contact whose company is cleared loses companyId and companyIds", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      const [company] = ids(
        yield* conn.create(
          Bitrix24.company,
          items("company", 1, () => ({ title: "Acme" })),
        ),
      )
      const created = ids(
        yield* conn.create(
          Bitrix24.contact,
          items("contact", 2, (i) => ({ name: `P${i}`, companyId: i === 0 ? company : null })),
        ),
      )
      assert.isTrue(created.every((id) => !id.startsWith("rejected")))
      const contact = (id: string) =>
        Effect.map(emulator.items(3), (stored) => stored.find((s) => String(s.id) === id)!)
      assert.strictEqual(String((yield* contact(created[0]!)).companyId), company)
      assert.deepStrictEqual((yield* contact(created[0]!)).companyIds, [Number(company)])
      assert.isNull((yield* contact(created[1]!)).companyId)

      const [updated] = yield* conn.update(Bitrix24.contact, [
        { sourceKey: "0", targetId: created[0]!, fields: { name: "P0", companyId: null } },
      ])
      assert.strictEqual(updated!._tag, "Written")
      const after = yield* contact(created[0]!)
      assert.isTrue(after.companyId === null || after.companyId === 0, `companyId ${String(after.companyId)}`)
      assert.deepStrictEqual(after.companyIds, [])
    }),
  )

  it.scopedLive(
    "a deal's contacts follow the source's list; a parent link is cleared with parentId{N}: 0",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal({
          entityTypes: [
            { entityTypeId: 2, parents: [1220] },
            { entityTypeId: 1220, title: "Projects" },
          ],
        })
        const conn = yield* connect(webhookSink(emulator))
        const [a, b] = ids(
          yield* conn.create(
            Bitrix24.contact,
            items("contact", 2, (i) => ({ name: `C${i}` })),
          ),
        )
        const [project] = ids(
          yield* conn.create(
            Bitrix24.spa(1220, "project"),
            items("project", 1, () => ({ title: "P" })),
          ),
        )
        const [deal] = ids(
          yield* conn.create(
            Bitrix24.deal,
            items("deal", 1, () => ({
              title: "D",
              contactIds: [a, b],
              parentId1220: project,
              comments: "note",
            })),
          ),
        )
        const stored = () => Effect.map(emulator.items(2), (all) => all.find((s) => String(s.id) === deal)!)
        assert.deepStrictEqual((yield* stored()).contactIds, [Number(a), Number(b)])
        assert.strictEqual(String((yield* stored()).parentId1220), project)

        const [updated] = yield* conn.update(Bitrix24.deal, [
          {
            sourceKey: "0",
            targetId: deal!,
            fields: { title: "D", contactIds: [a], contactId: null, parentId1220: null, comments: null },
          },
        ])
        assert.strictEqual(updated!._tag, "Written")
        const after = yield* stored()
        assert.deepStrictEqual(after.contactIds, [Number(a)])
        assert.strictEqual(String(after.contactId), a)
        assert.isTrue(after.parentId1220 === null || after.parentId1220 === 0)
        // A null in another field is sent as before: the portal empties the field.
        assert.isTrue(after.comments === null || after.comments === "", `comments ${String(after.comments)}`)

        // An empty list clears every contact.
        yield* conn.update(Bitrix24.deal, [{ sourceKey: "0", targetId: deal!, fields: { contactIds: [] } }])
        assert.deepStrictEqual((yield* stored()).contactIds, [])
      }),
  )
})
