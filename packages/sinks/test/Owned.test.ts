/**
 * `listOwned` and `identity` against the emulator over HTTP: only the originator's items (by
 * `originatorId`, or the `xmlId` prefix of smart processes), paged by `>id` 50 at a time, the
 * first page alone when only the first item is pulled; the identity names the portal and the
 * webhook user, never the code.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Redacted, Stream } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import { connect, items, methodCount, portal, webhookSink } from "./support.js"

const PROJECTS = 1220

describe("listOwned", () => {
  it.scopedLive("lists every item of the originator and none of another, 50 per page", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ rateLimit: { burst: 0 } })
      const mine = yield* connect(webhookSink(emulator), { originator: "legacy-crm" })
      const theirs = yield* connect(webhookSink(emulator), { originator: "other-crm" })
      yield* mine.create(
        Bitrix24.company,
        items("company", 60, (i) => ({ title: `Mine ${i}` })),
      )
      yield* theirs.create(
        Bitrix24.company,
        items("company", 30, (i) => ({ title: `Theirs ${i}` })),
      )
      yield* mine.create(
        Bitrix24.company,
        items("company", 50, (i) => ({ title: `Mine ${i}` }), 60),
      )
      yield* emulator.seed(4, { title: "Made by hand" })
      const before = yield* methodCount(emulator, "crm.item.list")
      const owned = Chunk.toReadonlyArray(yield* Stream.runCollect(mine.listOwned!(Bitrix24.company)))
      assert.strictEqual(owned.length, 110)
      assert.deepStrictEqual(
        owned.map((o) => o.originId).sort(),
        Array.from({ length: 110 }, (_, i) => `company:${i}`).sort(),
      )
      const stored = new Map((yield* emulator.items(4)).map((s) => [String(s.id), s]))
      for (const o of owned) {
        assert.strictEqual(stored.get(o.targetId)?.originId, o.originId)
        assert.strictEqual(stored.get(o.targetId)?.originatorId, "legacy-crm")
      }
      // 110 items: pages of 50, 50 and 10.
      assert.strictEqual((yield* methodCount(emulator, "crm.item.list")) - before, 3)
      const log = (yield* emulator.requestLog).filter((e) => e.method === "crm.item.list")
      assert.isTrue(log.every((e) => e.status === 200))

      const first = yield* methodCount(emulator, "crm.item.list")
      const head = yield* Stream.runHead(mine.listOwned!(Bitrix24.company))
      assert.strictEqual(head._tag, "Some")
      assert.strictEqual(
        (yield* methodCount(emulator, "crm.item.list")) - first,
        1,
        "the first item costs one request",
      )
    }),
  )

  it.scopedLive("smart processes: by the xmlId prefix of the originator", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({
        rateLimit: { burst: 0 },
        entityTypes: [{ entityTypeId: PROJECTS, title: "Projects" }],
      })
      const projects = Bitrix24.spa(PROJECTS, "project")
      const mine = yield* connect(webhookSink(emulator), { originator: "erp" })
      const theirs = yield* connect(webhookSink(emulator), { originator: "erp-old" })
      yield* mine.create(
        projects,
        items("project", 7, (i) => ({ title: `P${i}` })),
      )
      yield* theirs.create(
        projects,
        items("project", 3, (i) => ({ title: `Old ${i}` })),
      )
      // An item whose xmlId merely contains "erp:" is not the originator's.
      yield* emulator.seed(PROJECTS, { title: "Imported", xmlId: "legacy-erp:project:1" })
      const owned = Chunk.toReadonlyArray(yield* Stream.runCollect(mine.listOwned!(projects)))
      assert.deepStrictEqual(
        owned.map((o) => o.originId).sort(),
        Array.from({ length: 7 }, (_, i) => `project:${i}`).sort(),
      )
    }),
  )

  it.scopedLive("the identity names the portal and the webhook user, never the code", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      assert.strictEqual(conn.identity, `bitrix24 ${emulator.url} (webhook user 1)`)
      const code = emulator.webhookUrl
        .split("/")
        .filter((p) => p !== "")
        .pop()!
      assert.notInclude(conn.identity!, code)
    }),
  )

  it.scopedLive(
    "for an OAuth app, the identity names the portal and the app's client id, never a token",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal()
        const tokens = yield* emulator.oauth.issueToken()
        const sink = Bitrix24.sink({
          oauth: {
            portalUrl: emulator.url,
            clientId: emulator.oauth.clientId,
            clientSecret: Redacted.make(emulator.oauth.clientSecret),
            accessToken: Redacted.make(tokens.accessToken),
            refreshToken: Redacted.make(tokens.refreshToken),
          },
        })
        const conn = yield* connect(sink)
        assert.strictEqual(conn.identity, `bitrix24 ${emulator.url} (OAuth app ${emulator.oauth.clientId})`)
        for (const secret of [tokens.accessToken, tokens.refreshToken, emulator.oauth.clientSecret])
          assert.notInclude(conn.identity!, secret)
      }),
  )
})

describe("readOwned", () => {
  it.scopedLive(
    "the originator's items with the mapped fields' values; phones as the mapping writes them (fm only with select *)",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal({ rateLimit: { burst: 0 } })
        const mine = yield* connect(webhookSink(emulator), { originator: "legacy-crm" })
        yield* mine.create(
          Bitrix24.company,
          items("company", 60, (i) => ({
            title: `Mine ${i}`,
            PHONE: Bitrix24.phones([`+49 30 ${100 + i}`, { value: `+49 170 ${i}`, type: "MOBILE" }]),
          })),
        )
        yield* emulator.seed(4, { title: "Made by hand" })
        const before = yield* methodCount(emulator, "crm.item.list")
        const read = Chunk.toReadonlyArray(
          yield* Stream.runCollect(mine.readOwned!(Bitrix24.company, ["PHONE", "title"])),
        )
        assert.strictEqual(read.length, 60)
        assert.strictEqual((yield* methodCount(emulator, "crm.item.list")) - before, 2, "pages of 50 and 10")
        const seventh = read.find((r) => r.originId === "company:7")!
        assert.strictEqual(seventh.fields.title, "Mine 7")
        assert.deepStrictEqual(seventh.fields.PHONE, [
          { VALUE: "+49 30 107", VALUE_TYPE: "WORK" },
          { VALUE: "+49 170 7", VALUE_TYPE: "MOBILE" },
        ])
        // Without multi-fields only the fields named are read.
        const titles = Chunk.toReadonlyArray(
          yield* Stream.runCollect(mine.readOwned!(Bitrix24.company, ["title"])),
        )
        assert.deepStrictEqual(Object.keys(titles[0]!.fields), ["title"])
        // The cost said before: a page per 50 and one more, plus the type's fields.
        const cost = mine.readCost!([60])
        assert.strictEqual(cost.requests, 3)
        assert.include(cost.how, "crm.item.list, 50 items a page")
      }),
  )

  it.scopedLive("expected: link fields named, an empty primary contact is the first of the list", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ rateLimit: { burst: 0 } })
      const sink = yield* connect(webhookSink(emulator), { originator: "legacy-crm" })
      const held = sink.expected!(Bitrix24.deal, {
        title: "Deal",
        companyId: 4,
        contactId: null,
        contactIds: [7, 9],
      })
      assert.deepStrictEqual(held.fields, { title: "Deal", companyId: 4, contactId: 7, contactIds: [7, 9] })
      assert.deepStrictEqual([...held.links].sort(), ["companyId", "contactId", "contactIds"])
    }),
  )
})
