import { assert, describe, it } from "@effect/vitest"
import pg from "pg"
import * as PgTypes from "../src/internal/pgTypes.js"

/**
 * The source's own timestamp parsers read a UTC session's text by character codes; they must
 * give exactly what `pg`'s default parser gives, and hand anything unusual to it.
 */
const TIMESTAMPTZ = 1184
const TIMESTAMP = 1114
const parser = (oid: number) => PgTypes.types.getTypeParser(oid, "text") as (value: string) => unknown
const reference = pg.types.getTypeParser(TIMESTAMPTZ, "text") as (value: string) => Date

const same = (text: string) => {
  const ours = parser(TIMESTAMPTZ)(text)
  const theirs = reference(text)
  assert.instanceOf(ours, Date, text)
  assert.strictEqual((ours as Date).getTime(), theirs.getTime(), text)
}

describe("pg timestamp parsers", () => {
  it("read the usual forms as the default parser does", () => {
    for (const text of [
      "2024-01-01 00:00:01+00",
      "2024-05-01 10:00:00.1+00",
      "2024-05-01 10:00:00.12+00",
      "2024-05-01 10:00:00.123456+00",
      "2024-05-01 10:00:00.0099+00",
      "1999-12-31 23:59:59.999999+00",
      "2024-02-29 12:00:00+00",
      "1900-01-01 00:00:00+00",
      "9999-12-31 23:59:59.999999+00",
    ])
      same(text)
  })

  it("agree with the default parser on 20,000 generated timestamps", () => {
    // A fixed linear congruential sequence: the same timestamps every run.
    let seed = 42
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let i = 0; i < 20_000; i++) {
      const at = new Date(Math.floor(next() * 7_000_000_000_000) - 2_000_000_000_000)
      const fraction = String(Math.floor(next() * 1_000_000))
        .padStart(6, "0")
        .slice(0, 1 + Math.floor(next() * 6))
      same(`${at.toISOString().slice(0, 19).replace("T", " ")}${next() < 0.3 ? "" : `.${fraction}`}+00`)
    }
  })

  it("hand BC, early years, infinity and other zones to the default parser", () => {
    assert.isUndefined(PgTypes.fastUtc("0044-03-15 12:00:00+00 BC", "+00"))
    assert.isUndefined(PgTypes.fastUtc("0099-01-01 00:00:00+00", "+00"))
    assert.isUndefined(PgTypes.fastUtc("12024-01-01 00:00:00+00", "+00"))
    assert.isUndefined(PgTypes.fastUtc("2024-01-01 00:00:00+05:30", "+00"))
    same("0044-03-15 12:00:00+00 BC")
    same("0099-01-01 00:00:00+00")
    same("2024-01-01 00:00:00+05:30")
    assert.strictEqual(parser(TIMESTAMPTZ)("infinity"), "infinity")
    assert.strictEqual(parser(TIMESTAMPTZ)("-infinity"), "-infinity")
  })

  it("read timestamp without time zone as UTC wall time", () => {
    const read = parser(TIMESTAMP)
    assert.deepStrictEqual(read("2024-05-01 10:00:00.654321"), new Date("2024-05-01T10:00:00.654Z"))
    assert.deepStrictEqual(read("2024-05-01 10:00:00"), new Date("2024-05-01T10:00:00Z"))
    assert.deepStrictEqual(read("0099-01-01 00:00:00"), new Date("0099-01-01T00:00:00Z"))
    assert.strictEqual(read("infinity"), "infinity")
  })
})
