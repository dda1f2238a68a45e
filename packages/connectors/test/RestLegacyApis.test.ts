import type * as Json from "@b24etl/core/Json"
import type * as Source from "@b24etl/core/Source"
import * as SourceKey from "@b24etl/core/SourceKey"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Config, ConfigProvider, Effect, Stream } from "effect"
import * as Pagination from "../src/Pagination.js"
import * as Rest from "../src/Rest.js"
import * as RestAuth from "../src/RestAuth.js"
import * as LegacyApi from "./support/legacyApi.js"
import { serve, ticking } from "./support/server.js"

/**
 * Real legacy APIs, as a local server mimics them (`support/legacyApi.ts`): every record read
 * exactly once, and a change made between two runs picked up by the second.
 */

const read = (source: Rest.RestSource, stream: Source.SourceStream, request: Source.ReadRequest = {}) =>
  ticking(
    Effect.flatMap(source.connect, (connection) =>
      Stream.runCollect(connection.read(stream.spec as Rest.EndpointSpec, request)),
    ).pipe(Effect.map(Chunk.toReadonlyArray), Effect.scoped),
  )

const ids = (records: ReadonlyArray<Source.SourceRecord>) => records.map((r) => r.data.id as number)
const sorted = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)
const requests = (api: LegacyApi.LegacyApi, path: string) =>
  api.server.seen(path).map((r) => {
    const q = new URLSearchParams(r.url.searchParams)
    q.delete("api_token")
    return q.toString()
  })

const pipedrive = (api: LegacyApi.LegacyApi, version: "v1" | "v2") =>
  Rest.source({
    baseUrl: `${api.url}/${version}/`,
    auth: RestAuth.apiKey({ query: "api_token" }, api.token),
  })

/** Pipedrive v1's offset pages: `start`, `limit`, and a flag saying whether more follow. */
const v1Pages = Pagination.offset({
  offsetParam: "start",
  limit: 5,
  stop: { more: "additional_data.pagination.more_items_in_collection" },
})

/** The same records, each once, in any order. */
const exactlyOnce = (records: ReadonlyArray<Source.SourceRecord>, expected: ReadonlyArray<number>) => {
  assert.deepStrictEqual(sorted(ids(records)), sorted(expected))
  assert.strictEqual(new Set(records.map((r) => r.key)).size, records.length, "no record twice")
}

describe("Rest source on legacy APIs: pagination", () => {
  it.scoped("stops on a 'more items' flag, when the API serves fewer records than the limit asks", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = pipedrive(api, "v1")
      const records = yield* read(
        crm,
        crm.endpoint("organizations", { key: "id", records: "data", pagination: v1Pages }),
      )
      exactlyOnce(records, [1, 2, 3, 4, 5, 6, 7])
      assert.deepStrictEqual(requests(api, "/v1/organizations"), [
        "start=0&limit=5",
        "start=3&limit=5",
        "start=6&limit=5",
      ])
      // The short-page rule would have stopped after the first page, which holds 3 of the 5 asked for.
      const shortPage = yield* read(
        crm,
        crm.endpoint("organizations", {
          key: "id",
          records: "data",
          pagination: Pagination.offset({ offsetParam: "start", limit: 5 }),
        }),
      )
      assert.deepStrictEqual(ids(shortPage), [1, 2, 3])
    }),
  )

  it.scoped("a `data: null` page is an empty page: the end of the collection", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = pipedrive(api, "v1")
      // Organization 2 has exactly 3 persons: a full page, then `data: null`.
      const records = yield* read(
        crm,
        crm.endpoint("organizations/2/persons", {
          key: "id",
          records: "data",
          pagination: Pagination.offset({ offsetParam: "start", limit: 3 }),
        }),
      )
      exactlyOnce(records, [20, 21, 22])
      assert.deepStrictEqual(requests(api, "/v1/organizations/2/persons"), [
        "start=0&limit=3",
        "start=3&limit=3",
      ])
      const none = yield* read(
        crm,
        crm.endpoint("organizations/3/persons", { key: "id", records: "data", pagination: v1Pages }),
      )
      assert.deepStrictEqual(none, [])
    }),
  )

  it.scoped("stops on a total read from the answer", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = pipedrive(api, "v1")
      const records = yield* read(
        crm,
        crm.endpoint("organizations", {
          key: "id",
          records: "data",
          pagination: Pagination.offset({
            offsetParam: "start",
            limit: 5,
            stop: { total: "additional_data.pagination.total" },
          }),
        }),
      )
      exactlyOnce(records, [1, 2, 3, 4, 5, 6, 7])
      assert.strictEqual(api.server.seen("/v1/organizations").length, 3)
    }),
  )

  it.scoped("stops on a `has_more` flag when the cursor is always there (Stripe-style)", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = pipedrive(api, "v2")
      const deals = (stop?: Pagination.Stop) =>
        crm.endpoint("deals", {
          key: "id",
          records: "data",
          pagination: Pagination.cursor({ param: "starting_after", next: "last_id", size: 3, stop }),
        })
      const records = yield* read(crm, deals({ more: "has_more" }))
      exactlyOnce(
        records,
        api.deals.map((d) => d.id),
      )
      assert.deepStrictEqual(requests(api, "/v2/deals"), [
        "limit=3",
        "limit=3&starting_after=102",
        "limit=3&starting_after=105",
      ])
      // Without the flag the last page's cursor leads back to itself: refused, not followed.
      const error = yield* Effect.flip(read(crm, deals()))
      assert.include(error.message, "already read")
    }),
  )

  it.scoped("a stop condition whose value is missing from a page with records fails, naming the path", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = pipedrive(api, "v2")
      const error = yield* Effect.flip(
        read(
          crm,
          crm.endpoint("deals", {
            key: "id",
            records: "data",
            pagination: Pagination.cursor({
              param: "starting_after",
              next: "last_id",
              stop: { more: "hasMore" },
            }),
          }),
        ),
      )
      assert.include(error.message, 'expected a boolean at "hasMore" (the stop condition), found nothing')
      assert.notInclude(error.message, api.token)
    }),
  )

  it.scoped("429 with Retry-After in the middle of a read: waits, goes on, nothing read twice", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = pipedrive(api, "v1")
      const stream = crm.endpoint("organizations", { key: "id", records: "data", pagination: v1Pages })
      api.throttle(2)
      const records = yield* read(crm, stream)
      exactlyOnce(records, [1, 2, 3, 4, 5, 6, 7])
      assert.strictEqual(api.throttled(), 2)
      assert.deepStrictEqual(requests(api, "/v1/organizations"), [
        "start=0&limit=5",
        "start=0&limit=5",
        "start=0&limit=5",
        "start=3&limit=5",
        "start=6&limit=5",
      ])
    }),
  )
})

describe("Rest source on legacy APIs: incremental reads", () => {
  const persons = (crm: Rest.RestSource, incremental: Partial<Rest.Incremental> = {}) =>
    crm.endpoint("persons", {
      key: "id",
      records: "data",
      pagination: Pagination.cursor({ next: "additional_data.next_cursor", size: 3 }),
      incremental: {
        param: "updated_since",
        cursorField: "update_time",
        format: "rfc3339",
        start: "2020-01-01T00:00:00Z",
        ...incremental,
      },
    })

  it.scoped(
    "RFC 3339 from a start value, then from the checkpoint: picks up a change made between runs",
    () =>
      Effect.gen(function* () {
        const api = yield* LegacyApi.make(3)
        const crm = pipedrive(api, "v2")
        api.throttle(1)
        const first = yield* read(crm, persons(crm))
        exactlyOnce(
          first,
          api.persons.map((p) => p.id),
        )
        assert.strictEqual(api.throttled(), 1)
        assert.strictEqual(
          api.server.seen("/v2/persons")[0]!.url.searchParams.get("updated_since"),
          "2020-01-01T00:00:00Z",
        )
        const checkpoint = first.at(-1)!.position!
        assert.deepStrictEqual(checkpoint, {
          cursor: LegacyApi.at(10 + api.persons.length - 1),
          key: [api.persons.at(-1)!.id],
        })

        const changed = api.persons[2]!
        changed.name = "renamed"
        changed.update_time = LegacyApi.at(50)
        const second = yield* read(crm, persons(crm), { after: checkpoint })
        assert.deepStrictEqual(ids(second), [changed.id])
        assert.strictEqual(second[0]!.data.name, "renamed")
        assert.strictEqual(
          api.server.seen("/v2/persons").at(-1)!.url.searchParams.get("updated_since"),
          `${(checkpoint as { cursor: string }).cursor.replace(" ", "T")}Z`,
        )
        const third = yield* read(crm, persons(crm), { after: second.at(-1)!.position })
        assert.deepStrictEqual(third, [], "nothing changed since")
      }),
  )

  it.scoped("the value as the API returned it is refused by an RFC 3339 API, with its message", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = pipedrive(api, "v2")
      const error = yield* Effect.flip(
        read(crm, persons(crm, { format: undefined }), {
          after: { cursor: "2020-01-07 05:05:08", key: [10] },
        }),
      )
      assert.include(error.message, "400")
      assert.include(error.message, "updated_since must be RFC 3339")
    }),
  )

  it.scoped("a lookback reads recent records again, unchanged, and the checkpoint never moves back", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = pipedrive(api, "v2")
      const stream = persons(crm, { lookback: "3 minutes" })
      const first = yield* read(crm, stream)
      exactlyOnce(
        first,
        api.persons.map((p) => p.id),
      )
      const checkpoint = first.at(-1)!.position as { cursor: string; key: ReadonlyArray<Json.Json> }

      // A change the previous run missed: committed late, with a time behind the checkpoint.
      const late = api.persons.at(-2)!
      late.name = "changed behind the cursor"
      const second = yield* read(crm, stream, { after: checkpoint })
      const since = api.server.seen("/v2/persons").at(-1)!.url.searchParams.get("updated_since")!
      assert.strictEqual(
        Date.parse(since),
        Date.parse(`${checkpoint.cursor.replace(" ", "T")}Z`) - 3 * 60_000,
      )
      const window = api.persons.filter((p) => p.update_time >= LegacyApi.at(10 + api.persons.length - 4))
      exactlyOnce(
        second,
        window.map((p) => p.id),
      )
      assert.strictEqual(second.find((r) => r.data.id === late.id)!.data.name, "changed behind the cursor")
      for (const record of second) {
        // The records read again are what the first run read: the same payload, so the same hash, so no write.
        if (record.data.id !== late.id)
          assert.deepStrictEqual(record.data, first.find((r) => r.key === record.key)!.data)
        assert.deepStrictEqual(record.position, checkpoint, "the checkpoint stays the greatest position read")
      }
    }),
  )
})

describe("Rest source on legacy APIs: child resources and templates", () => {
  const setup = (api: LegacyApi.LegacyApi) => {
    const crm = pipedrive(api, "v1")
    const organizations = crm.endpoint("organizations", { key: "id", records: "data", pagination: v1Pages })
    const persons = crm.endpoint("organizations/{id}/persons", {
      key: "id",
      records: "data",
      pagination: v1Pages,
      parent: { stream: organizations, as: "org_key" },
      query: { owner: "{owner_id}" },
      incremental: { param: "updated_since", cursorField: "update_time", format: "rfc3339" },
    })
    return { crm, persons }
  }

  it.scoped("reads the persons of every organization, each once, carrying its organization's key", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const { crm, persons } = setup(api)
      api.throttle(1)
      const first = yield* read(crm, persons)
      exactlyOnce(
        first,
        api.persons.map((p) => p.id),
      )
      for (const record of first) assert.strictEqual(record.data.org_key, record.data.org_id)
      for (const org of api.organizations) {
        const seen = api.server.seen(`/v1/organizations/${org.id}/persons`)
        assert.strictEqual(seen.length, 1, `one request for organization ${org.id}`)
        assert.strictEqual(seen[0]!.url.searchParams.get("owner"), String(org.owner_id))
      }
      // Until the last record the checkpoint stays where the read began; the last one carries the greatest.
      for (const record of first.slice(0, -1))
        assert.strictEqual((record.position as { cursor: unknown }).cursor, null)
      const newest = api.persons.reduce((a, b) => (a.update_time > b.update_time ? a : b))
      assert.deepStrictEqual(first.at(-1)!.position, { cursor: newest.update_time, key: [newest.id] })

      const changed = api.persons[0]!
      changed.name = "moved desk"
      changed.update_time = LegacyApi.at(55)
      const second = yield* read(crm, persons, { after: first.at(-1)!.position })
      assert.deepStrictEqual(ids(second), [changed.id])
      assert.strictEqual(second[0]!.data.org_key, changed.org_id)
      assert.deepStrictEqual(second[0]!.position, { cursor: LegacyApi.at(55), key: [changed.id] })
      const third = yield* read(crm, persons, { after: second[0]!.position })
      assert.deepStrictEqual(third, [])
    }),
  )

  it.scoped(
    "a compound key with the parent's key, vars from Config, and a clear error for an unknown placeholder",
    () =>
      Effect.gen(function* () {
        const api = yield* LegacyApi.make(3)
        const crm = Rest.source({
          baseUrl: api.url,
          auth: RestAuth.apiKey({ query: "api_token" }, api.token),
        })
        const organizations = crm.endpoint("{version}/organizations", {
          key: "id",
          records: "data",
          pagination: v1Pages,
          vars: { version: Config.string("CRM_API_VERSION") },
        })
        const persons = crm.endpoint("{version}/organizations/{id}/persons", {
          key: ["org", "id"],
          records: "data",
          parent: { stream: organizations, as: "org" },
          vars: { version: "v1" },
        })
        const records = yield* read(crm, persons).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["CRM_API_VERSION", "v1"]]))),
        )
        exactlyOnce(
          records,
          api.persons.map((p) => p.id),
        )
        assert.strictEqual(records[0]!.key, SourceKey.make([1, 10]))

        const missing = yield* Effect.flip(
          read(crm, crm.endpoint("organizations/{org}/persons", { key: "id" })),
        )
        assert.include(
          missing.message,
          "no value for {org}: it is not in vars and the endpoint has no parent",
        )
        const unconfigured = yield* Effect.flip(
          read(crm, organizations).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))),
        )
        assert.include(unconfigured.message, "the value of {version} is not configured")
        const other = Rest.source({ baseUrl: api.url, name: "other" })
        const foreign = yield* Effect.flip(
          read(
            crm,
            crm.endpoint("x/{id}", { key: "id", parent: { stream: other.endpoint("y", { key: "id" }) } }),
          ),
        )
        assert.include(
          foreign.message,
          "its parent must be an endpoint of this source, not of the rest source other",
        )
      }),
  )
})

describe("Rest source: how the incremental value is written", () => {
  const sent = (incremental: Rest.Incremental, after?: Json.Json) =>
    Effect.gen(function* () {
      const server = yield* serve(() => ({ body: [] }))
      const crm = Rest.source({ baseUrl: server.url })
      yield* read(crm, crm.endpoint("items", { key: "id", incremental }), { after })
      return server.requests[0]!.url.searchParams.get("since")
    })
  const at = (cursor: Json.Json) => ({ cursor, key: [1] })

  it.scoped("RFC 3339, epoch seconds and milliseconds, a function, a start value, a lookback", () =>
    Effect.gen(function* () {
      const base = { param: "since", cursorField: "updated" } as const
      assert.strictEqual(
        yield* sent({ ...base, format: "rfc3339" }, at("2020-01-07 05:05:08")),
        "2020-01-07T05:05:08Z",
      )
      assert.strictEqual(
        yield* sent({ ...base, format: "rfc3339" }, at("2020-01-07T07:05:08.250+02:00")),
        "2020-01-07T05:05:08.250Z",
      )
      assert.strictEqual(
        yield* sent({ ...base, format: "epochSeconds" }, at("2020-01-07 05:05:08")),
        "1578373508",
      )
      assert.strictEqual(
        yield* sent({ ...base, format: "epochMillis" }, at("2020-01-07T05:05:08Z")),
        "1578373508000",
      )
      assert.strictEqual(yield* sent({ ...base, format: "epochSeconds" }, at(1578373508)), "1578373508")
      assert.strictEqual(yield* sent({ ...base, format: (c) => `>${String(c)}` }, at(42)), ">42")
      assert.strictEqual(yield* sent(base, at("2020-01-07 05:05:08")), "2020-01-07 05:05:08")
      assert.isNull(yield* sent(base), "no checkpoint and no start: everything")
      assert.strictEqual(
        yield* sent({ ...base, format: "epochSeconds", start: new Date("2020-01-01T00:00:00Z") }),
        "1577836800",
      )
      assert.strictEqual(
        yield* sent({ ...base, format: "rfc3339", lookback: "90 seconds" }, at("2020-01-07 05:05:08")),
        "2020-01-07T05:03:38Z",
      )
      assert.strictEqual(
        yield* sent({ ...base, format: "epochSeconds", lookback: "1 minute" }, at(1578373508)),
        "1578373448",
      )
      assert.strictEqual(
        yield* sent({ ...base, format: "epochMillis", lookback: "1 second" }, at(1578373508000)),
        "1578373507000",
      )
    }),
  )

  it.scoped("a value that cannot be written fails clearly, before any request", () =>
    Effect.gen(function* () {
      const server = yield* serve(() => ({ body: [] }))
      const crm = Rest.source({ baseUrl: server.url })
      const fails = (incremental: Rest.Incremental, after: Json.Json) =>
        Effect.flip(read(crm, crm.endpoint("items", { key: "id", incremental }), { after }))
      const notDate = yield* fails({ param: "since", cursorField: "v", format: "rfc3339" }, at("v12"))
      assert.include(notDate.message, 'cannot write the incremental value: "v12" is not a date')
      const version = yield* fails({ param: "since", cursorField: "v", lookback: "1 minute" }, at(12))
      assert.include(version.message, "a lookback needs a time cursor")
      assert.include(version.message, '"epochSeconds" or "epochMillis"')
      assert.strictEqual(server.requests.length, 0)
    }),
  )
})
