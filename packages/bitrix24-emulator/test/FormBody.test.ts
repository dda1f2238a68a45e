import { assert, describe, it } from "@effect/vitest"
import * as FormBody from "../src/FormBody.js"

describe("FormBody", () => {
  it("parses PHP-style nested keys into objects and lists", () => {
    const parsed = FormBody.parse(
      "entityTypeId=3&data[0][name]=Ann&data[0][PHONE][0][VALUE]=%2B1%20555&data[0][PHONE][0][VALUE_TYPE]=WORK" +
        "&data[1][name]=Bob&fields%5Btitle%5D=A+B&select[]=id&select[]=title&filter[%40originId][]=c%3A1",
    )
    assert.deepStrictEqual(parsed, {
      entityTypeId: "3",
      data: [{ name: "Ann", PHONE: [{ VALUE: "+1 555", VALUE_TYPE: "WORK" }] }, { name: "Bob" }],
      fields: { title: "A B" },
      select: ["id", "title"],
      filter: { "@originId": ["c:1"] },
    })
  })

  it("keeps non-consecutive numeric keys as an object and ignores prototype keys", () => {
    assert.deepStrictEqual(FormBody.parse("a[1]=x&a[3]=y&__proto__[z]=1&b[constructor]=2"), {
      a: { "1": "x", "3": "y" },
      b: {},
    })
  })

  it("round-trips with stringify", () => {
    const value = { entityTypeId: 2, fields: { title: "T", contactIds: [4, 5] }, halt: 0 }
    assert.deepStrictEqual(FormBody.parse(FormBody.stringify(value)), {
      entityTypeId: "2",
      fields: { title: "T", contactIds: ["4", "5"] },
      halt: "0",
    })
  })
})
