/** Field helpers and the conversions the sink applies before sending. */
import * as Dropped from "@b24etl/core/Dropped"
import { ref } from "@b24etl/core/Reference"
import { assert, describe, it } from "@effect/vitest"
import * as Bitrix24 from "../src/Bitrix24.js"
import * as Connection from "../src/Bitrix24Connection.js"
import * as Form from "../src/internal/form.js"
import * as Suggest from "../src/internal/suggest.js"
import * as Url from "../src/internal/url.js"

describe("multi-fields", () => {
  it("phones, emails, webs and ims: typed values, empties dropped, duplicates merged", () => {
    assert.deepStrictEqual(
      Bitrix24.phones(" +1 555 ", null, undefined, "", { value: "+1 777", type: "MOBILE" }, [
        "+1 555",
        { value: 42 },
      ]),
      [
        { VALUE: "+1 555", VALUE_TYPE: "WORK" },
        { VALUE: "+1 777", VALUE_TYPE: "MOBILE" },
        { VALUE: "42", VALUE_TYPE: "WORK" },
      ],
    )
    assert.deepStrictEqual(Bitrix24.emails({ value: "a@b.c", type: "HOME" }, "  "), [
      { VALUE: "a@b.c", VALUE_TYPE: "HOME" },
    ])
    assert.deepStrictEqual(Bitrix24.webs("acme.example"), [{ VALUE: "acme.example", VALUE_TYPE: "WORK" }])
    assert.deepStrictEqual(Bitrix24.ims({ value: "@acme", type: "TELEGRAM" }), [
      { VALUE: "@acme", VALUE_TYPE: "TELEGRAM" },
    ])
    assert.deepStrictEqual(Bitrix24.phones(), [])
    assert.throws(() => Bitrix24.emails({ value: "a@b.c", type: "FAX" as "WORK" }), /EMAIL type "FAX"/)
  })

  it("what the helpers drop (duplicate, empty, invalid) rides on the result, invisible to JSON", () => {
    const emails = Bitrix24.emails("max@x.de", "  ", "max@", { value: "max@x.de" }, "office(at)x.de", null)
    assert.deepStrictEqual(emails, [{ VALUE: "max@x.de", VALUE_TYPE: "WORK" }])
    assert.deepStrictEqual(Dropped.of(emails), [
      { value: "  ", reason: "empty" },
      { value: "max@", reason: "invalid" },
      { value: "max@x.de", reason: "duplicate" },
      { value: "office(at)x.de", reason: "invalid" },
    ])
    assert.strictEqual(JSON.stringify(emails), '[{"VALUE":"max@x.de","VALUE_TYPE":"WORK"}]')
    assert.deepStrictEqual(Dropped.of(Bitrix24.phones("n/a", "+49 30 1234567 ext. 5", "-")), [
      { value: "n/a", reason: "invalid" },
      { value: "-", reason: "invalid" },
    ])
    assert.deepStrictEqual(Bitrix24.phones("+49 30 1234567 ext. 5")[0]!.VALUE, "+49 30 1234567 ext. 5")
    assert.deepStrictEqual(Dropped.of(Bitrix24.webs("acme.example", "see notes", "n/a")), [
      { value: "see notes", reason: "invalid" },
      { value: "n/a", reason: "invalid" },
    ])
    assert.deepStrictEqual(
      Dropped.of(Bitrix24.phones("+1 555", null, undefined)),
      [],
      "no value is not dropped",
    )
  })

  it("files, money, yes/no and dates", () => {
    assert.deepStrictEqual(Bitrix24.file("a.txt", new TextEncoder().encode("hello")), ["a.txt", "aGVsbG8="])
    assert.deepStrictEqual(Bitrix24.file("p.png", "iVBORw0K\nGgo="), ["p.png", "iVBORw0KGgo="])
    assert.throws(() => Bitrix24.file("x", "not base64!"), /base64/)
    assert.strictEqual(Bitrix24.money(600, "usd"), "600|USD")
    assert.strictEqual(Bitrix24.money("12.50", "EUR"), "12.5|EUR")
    assert.throws(() => Bitrix24.money("abc", "EUR"), /not a number/)
    assert.throws(() => Bitrix24.money(1, "EURO"), /three-letter/)
    assert.strictEqual(Bitrix24.yn(true), "Y")
    assert.strictEqual(Bitrix24.yn(false), "N")
    assert.isUndefined(Bitrix24.yn(null))
    assert.strictEqual(Bitrix24.date(new Date("2024-08-11T22:22:41Z")), "2024-08-11")
    assert.strictEqual(Bitrix24.dateTime("2024-08-11T22:22:41.5Z"), "2024-08-11T22:22:41+00:00")
    assert.throws(() => Bitrix24.date("never"), /not a date/)
  })
})

describe("targets", () => {
  it("carry the sink kind, name, entityTypeId and identity", () => {
    assert.deepStrictEqual(
      [
        Bitrix24.lead,
        Bitrix24.deal,
        Bitrix24.contact,
        Bitrix24.company,
        Bitrix24.quote,
        Bitrix24.invoice,
      ].map((t) => [t.sink, t.name, t.entityTypeId, t.identity]),
      [
        ["bitrix24", "lead", 1, "origin"],
        ["bitrix24", "deal", 2, "origin"],
        ["bitrix24", "contact", 3, "origin"],
        ["bitrix24", "company", 4, "origin"],
        ["bitrix24", "quote", 7, "origin"],
        ["bitrix24", "invoice", 31, "xmlId"],
      ],
    )
    assert.deepStrictEqual(Bitrix24.spa(1030), {
      sink: "bitrix24",
      name: "spa:1030",
      entityTypeId: 1030,
      identity: "xmlId",
    })
    assert.throws(() => Bitrix24.spa(2), /own entityTypeId/)
  })
})

describe("conversions", () => {
  it("prepares fields: Y/N, ISO dates, no undefined, unresolved references refused", () => {
    const ok = Connection.prepareFields({
      title: "Acme",
      opened: true,
      isMyCompany: false,
      createdTime: new Date("2020-01-02T03:04:05Z"),
      contactIds: [1, undefined, 3],
      skipped: undefined,
      revenue: 10n,
    })
    assert.deepStrictEqual(ok, {
      _tag: "Ok",
      fields: {
        title: "Acme",
        opened: "Y",
        isMyCompany: "N",
        createdTime: "2020-01-02T03:04:05+00:00",
        contactIds: [1, 3],
        revenue: "10",
      },
    })
    const unresolved = Connection.prepareFields({ contactIds: [1, ref("contact", 9)] })
    assert.strictEqual(unresolved._tag === "Rejected" && unresolved.code, "UNRESOLVED_REFERENCE")
    const nan = Connection.prepareFields({ opportunity: Number.NaN })
    assert.strictEqual(nan._tag === "Rejected" && nan.field, "opportunity")
    const phone = Connection.prepareFields({ PHONE: "555" })
    assert.strictEqual(phone._tag === "Rejected" && phone.code, "CRM_FIELD_ERROR_VALUE_NOT_VALID")
  })

  it("turns import multi-fields into update's fm: new values keyed n0, n1... on an item without any", () => {
    assert.deepStrictEqual(
      Connection.toUpdateFields({
        title: "x",
        PHONE: [{ VALUE: "1", VALUE_TYPE: "MOBILE" }],
        EMAIL: [{ VALUE: "a@b", VALUE_TYPE: "WORK" }],
      }),
      {
        title: "x",
        fm: {
          n0: { typeId: "PHONE", valueType: "MOBILE", value: "1" },
          n1: { typeId: "EMAIL", valueType: "WORK", value: "a@b" },
        },
      },
    )
  })

  it("encodes batch commands as PHP query strings", () => {
    assert.strictEqual(
      decodeURIComponent(
        Form.encode({
          id: 5,
          fields: { title: "A&B", contactIds: [], ok: true, none: null, skip: undefined },
        }),
      ),
      "id=5&fields[title]=A&B&fields[contactIds]=&fields[ok]=Y&fields[none]=",
    )
    assert.strictEqual(Form.encode({ fields: { title: "A&B" } }), "fields%5Btitle%5D=A%26B")
  })

  it("suggests the closest field name", () => {
    const names = ["title", "companyId", "contactIds", "revenue", "ufCrm_1721244707107"]
    const upper = new Map([
      ["TITLE", "title"],
      ["COMPANY_ID", "companyId"],
      ["UF_CRM_1721244707107", "ufCrm_1721244707107"],
    ])
    assert.strictEqual(Suggest.closest("titel", names, upper), "title")
    assert.strictEqual(Suggest.closest("COMPANY_ID", names, upper), "companyId")
    assert.strictEqual(Suggest.closest("company_id", names, upper), "companyId")
    assert.strictEqual(Suggest.closest("ufCrm_1721244707108", names, upper), "ufCrm_1721244707107")
    assert.isUndefined(Suggest.closest("somethingElse", names, upper))
    assert.strictEqual(Suggest.levenshtein("kitten", "sitting"), 3)
  })
})

describe("URLs", () => {
  it("loopback only may be plain http; codes are redacted", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "[::1]", "::1"])
      assert.isTrue(Url.isLoopback(h), h)
    for (const h of ["128.0.0.1", "10.0.0.1", "acme.bitrix24.com", "127.0.0.256"])
      assert.isFalse(Url.isLoopback(h), h)
    const hook = Url.parseWebhook("https://acme.bitrix24.com/rest/1/abc123/")
    assert.deepStrictEqual(hook, {
      origin: "https://acme.bitrix24.com",
      userId: "1",
      code: "abc123",
      base: "https://acme.bitrix24.com/rest/1/abc123/",
      redacted: "https://acme.bitrix24.com/rest/1/***/",
    })
    assert.isTrue("origin" in Url.parseWebhook("http://localhost:8080/rest/1/abc123"))
    const insecure = Url.parseWebhook("http://acme.bitrix24.com/rest/1/abc123/")
    assert.isTrue(
      "error" in insecure && !insecure.error.includes("abc123") && insecure.error.includes("https"),
    )
    assert.strictEqual(
      Url.redact("failed: POST https://x.example/rest/12/s3cr3t/crm.item.list"),
      "failed: POST https://x.example/rest/12/***/crm.item.list",
    )
  })
})
