import type * as Source from "@b24etl/core/Source"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as Memory from "../src/Memory.js"

const legacy = Memory.source("legacy", {
  companies: [
    { id: 3, name: "Gamma", updated_at: new Date("2024-01-02T00:00:00Z") },
    { id: 1, name: "Acme", updated_at: new Date("2024-01-02T00:00:00Z") },
    { id: 2, name: "Beta", updated_at: null },
    { id: 10, name: "Delta", updated_at: new Date("2024-01-01T00:00:00Z") },
  ],
  people: [
    { region: "us", id: 1n },
    { region: "eu", id: 9007199254740993n },
    { region: "eu", id: 2n },
  ],
})

const read = (stream: Source.SourceStream, request: Source.ReadRequest = {}) =>
  Effect.flatMap(legacy.connect, (connection) =>
    Stream.runCollect(connection.read(stream.spec as Memory.MemorySpec, request)),
  ).pipe(Effect.map(Chunk.toReadonlyArray))

describe("Memory source", () => {
  it.scoped("reads in key order, without positions when there is no cursor", () =>
    Effect.gen(function* () {
      const records = yield* read(legacy.records("companies", { key: "id", chunkSize: 2 }))
      assert.deepStrictEqual(
        records.map((r) => r.key),
        ["1", "2", "3", "10"],
      )
      assert.isTrue(records.every((r) => r.position === undefined))
      const people = yield* read(legacy.records("people", { key: ["region", "id"] }))
      assert.deepStrictEqual(
        people.map((r) => r.key),
        ['["eu","2"]', '["eu","9007199254740993"]', '["us","1"]'],
      )
    }),
  )

  it.scoped("reads by cursor then key, NULL first, and resumes after a position", () =>
    Effect.gen(function* () {
      const stream = legacy.records("companies", { key: "id", cursor: "updated_at" })
      const records = yield* read(stream)
      assert.deepStrictEqual(
        records.map((r) => r.key),
        ["2", "10", "1", "3"],
      )
      assert.deepStrictEqual(records[2]!.position, { cursor: "2024-01-02T00:00:00.000Z", key: [1] })
      for (let i = 0; i < records.length; i++) {
        const rest = yield* read(stream, { after: JSON.parse(JSON.stringify(records[i]!.position)) })
        assert.deepStrictEqual(
          rest.map((r) => r.key),
          records.slice(i + 1).map((r) => r.key),
        )
      }
      const connection = yield* legacy.connect
      assert.strictEqual(yield* connection.count!(stream.spec as Memory.MemorySpec, {}), 4)
      assert.strictEqual(
        yield* connection.count!(stream.spec as Memory.MemorySpec, { after: records[0]!.position }),
        3,
      )
      assert.strictEqual((yield* read(stream, { limit: 2 })).length, 2)
    }),
  )

  it.scoped("fails clearly on unknown rows", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(read(legacy.records("deals", { key: "id" })))
      assert.strictEqual(error._tag, "SourceError")
      assert.include(error.message, "deals")
    }),
  )
})
