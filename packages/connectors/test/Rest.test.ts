import type * as Source from "@b24etl/core/Source"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Config, ConfigProvider, Effect, Fiber, Stream, TestClock } from "effect"
import * as Pagination from "../src/Pagination.js"
import * as Rest from "../src/Rest.js"
import * as RestAuth from "../src/RestAuth.js"
import { type Reply, type Seen, serve, settle, until } from "./support/server.js"

const companies = Array.from({ length: 7 }, (_, i) => ({
  id: i + 1,
  name: ["Acme", "Zoë GmbH", "日本株式会社", "Beta", "Gamma 🚀", "Delta", "Epsilon"][i],
  updated_at: `2024-01-0${1 + Math.floor(i / 3)}T00:00:00Z`,
}))

const int = (seen: Seen, name: string, fallback: number) =>
  Number(seen.url.searchParams.get(name) ?? fallback)

const read = (source: Rest.RestSource, stream: Source.SourceStream, request: Source.ReadRequest = {}) =>
  Effect.flatMap(source.connect, (connection) =>
    Stream.runCollect(connection.read(stream.spec as Rest.EndpointSpec, request)),
  ).pipe(Effect.map(Chunk.toReadonlyArray))

/** Waits (in real time) until some fiber sleeps on the test clock for exactly `millis`. */
const sleepingFor = (millis: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1000; i++) {
      const now = yield* TestClock.currentTimeMillis
      const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      if (sleeps.some((wake) => wake - now === millis)) return
      yield* settle(5)
    }
    assert.fail(`no fiber slept for ${millis} ms`)
  })

const ids = (records: ReadonlyArray<Source.SourceRecord>) => records.map((r) => r.data.id)
const all = companies.map((c) => c.id)

describe("Rest source: pagination", () => {
  it.scoped("page number, records under a path", () =>
    Effect.gen(function* () {
      const server = yield* serve((req) => {
        const page = int(req, "page", 1)
        const size = int(req, "per_page", 10)
        return { body: { data: { items: companies.slice((page - 1) * size, page * size) } } }
      })
      const crm = Rest.source({ baseUrl: `${server.url}/api` })
      const records = yield* read(
        crm,
        crm.endpoint("companies", {
          key: "id",
          records: "data.items",
          pagination: Pagination.page({ size: 3 }),
        }),
      )
      assert.deepStrictEqual(ids(records), all)
      assert.deepStrictEqual(
        records.map((r) => r.key),
        all.map(String),
      )
      assert.strictEqual(records[2]!.data.name, "日本株式会社")
      assert.deepStrictEqual(
        server.requests.map((r) => `${r.url.pathname}?${r.url.searchParams}`),
        [
          "/api/companies?page=1&per_page=3",
          "/api/companies?page=2&per_page=3",
          "/api/companies?page=3&per_page=3",
        ],
      )
    }),
  )

  it.scoped("offset and limit, records as the body", () =>
    Effect.gen(function* () {
      const server = yield* serve((req) => ({
        body: companies.slice(int(req, "offset", 0), int(req, "offset", 0) + int(req, "limit", 100)),
      }))
      const crm = Rest.source({ baseUrl: server.url })
      const records = yield* read(
        crm,
        crm.endpoint("/companies", { key: "id", pagination: Pagination.offset({ limit: 2 }) }),
      )
      assert.deepStrictEqual(ids(records), all)
      assert.deepStrictEqual(
        server.requests.map((r) => r.url.searchParams.get("offset")),
        ["0", "2", "4", "6"],
      )
    }),
  )

  it.scoped("a cursor token in the body", () =>
    Effect.gen(function* () {
      const server = yield* serve((req) => {
        const from = Number(req.url.searchParams.get("cursor") ?? 0)
        const items = companies.slice(from, from + 3)
        return {
          body: { items, meta: { next_cursor: from + 3 < companies.length ? String(from + 3) : null } },
        }
      })
      const crm = Rest.source({ baseUrl: server.url })
      const records = yield* read(
        crm,
        crm.endpoint("companies", {
          key: "id",
          records: "items",
          pagination: Pagination.cursor({ next: "meta.next_cursor" }),
        }),
      )
      assert.deepStrictEqual(ids(records), all)
      assert.deepStrictEqual(
        server.requests.map((r) => r.url.searchParams.get("cursor")),
        [null, "3", "6"],
      )
    }),
  )

  it.scoped("a next URL in the body, relative or absolute", () =>
    Effect.gen(function* () {
      const server = yield* serve((req, s) => {
        const from = Number(req.url.searchParams.get("from") ?? 0)
        const next =
          from + 4 >= companies.length
            ? null
            : from === 0
              ? `/v1/companies?from=${from + 4}`
              : `${s.url}/v1/companies?from=${from + 4}`
        return { body: { results: companies.slice(from, from + 4), links: { next } } }
      })
      const crm = Rest.source({ baseUrl: `${server.url}/v1/` })
      const records = yield* read(
        crm,
        crm.endpoint("companies", {
          key: "id",
          records: "results",
          pagination: Pagination.nextUrl("links.next"),
        }),
      )
      assert.deepStrictEqual(ids(records), all)
      assert.strictEqual(server.requests.length, 2)
    }),
  )

  it.scoped("the Link header", () =>
    Effect.gen(function* () {
      const server = yield* serve((req) => {
        const page = int(req, "page", 1)
        const last = Math.ceil(companies.length / 2)
        const links = [`</companies?page=${last}>; rel="last"`]
        if (page < last) links.unshift(`</companies?page=${page + 1}>; rel="next"`)
        return { headers: { link: links.join(", ") }, body: companies.slice((page - 1) * 2, page * 2) }
      })
      const crm = Rest.source({ baseUrl: server.url })
      const records = yield* read(
        crm,
        crm.endpoint("companies", { key: "id", pagination: Pagination.linkHeader }),
      )
      assert.deepStrictEqual(ids(records), all)
      assert.strictEqual(server.requests.length, 4)
      const limited = yield* read(
        crm,
        crm.endpoint("companies", { key: "id", pagination: Pagination.linkHeader }),
        {
          limit: 3,
        },
      )
      assert.deepStrictEqual(ids(limited), [1, 2, 3])
    }),
  )

  it.scoped("a pagination that loops fails instead of reading forever", () =>
    Effect.gen(function* () {
      const server = yield* serve(() => ({ body: { items: companies.slice(0, 2), next: "same" } }))
      const crm = Rest.source({ baseUrl: server.url })
      const error = yield* Effect.flip(
        read(
          crm,
          crm.endpoint("companies", {
            key: "id",
            records: "items",
            pagination: Pagination.cursor({ next: "next" }),
          }),
        ),
      )
      assert.include(error.message, "already read")
      assert.strictEqual(server.requests.length, 2)
    }),
  )
})

describe("Rest source: failures, retries, limits", () => {
  it.scoped("a 429 waits exactly as long as Retry-After says, then goes on", () =>
    Effect.gen(function* () {
      let calls = 0
      const server = yield* serve(() =>
        ++calls === 1 ? { status: 429, headers: { "retry-after": "7" }, body: {} } : { body: companies },
      )
      const crm = Rest.source({ baseUrl: server.url })
      const fiber = yield* Effect.fork(read(crm, crm.endpoint("companies", { key: "id" })))
      yield* until(() => calls === 1, "the first request")
      yield* sleepingFor(7000)
      yield* TestClock.adjust("6999 millis")
      yield* settle()
      assert.strictEqual(calls, 1, "no retry before Retry-After has passed")
      yield* TestClock.adjust("1 millis")
      const records = yield* Fiber.join(fiber)
      assert.deepStrictEqual(ids(records), all)
      assert.strictEqual(calls, 2)
    }),
  )

  it.scoped("a 500 is retried with backoff and then succeeds", () =>
    Effect.gen(function* () {
      let calls = 0
      const server = yield* serve(() => (++calls === 1 ? { status: 500, raw: "oops" } : { body: companies }))
      const crm = Rest.source({ baseUrl: server.url, backoff: "1 second" })
      const fiber = yield* Effect.fork(read(crm, crm.endpoint("companies", { key: "id" })))
      yield* until(() => calls === 1, "the first request")
      yield* settle()
      yield* TestClock.adjust("400 millis")
      yield* settle()
      assert.strictEqual(calls, 1, "the backoff is at least half the base delay")
      yield* TestClock.adjust("2 seconds")
      const records = yield* Fiber.join(fiber)
      assert.deepStrictEqual(ids(records), all)
      assert.strictEqual(calls, 2)
    }),
  )

  it.scoped("gives up after the configured retries with the last status", () =>
    Effect.gen(function* () {
      const server = yield* serve(() => ({ status: 503, headers: { "retry-after": "1" }, raw: "down" }))
      const crm = Rest.source({ baseUrl: server.url, retries: 2 })
      const fiber = yield* Effect.fork(Effect.flip(read(crm, crm.endpoint("companies", { key: "id" }))))
      for (let i = 1; i <= 2; i++) {
        yield* until(() => server.requests.length === i, `request ${i}`)
        yield* settle()
        yield* TestClock.adjust("1 second")
      }
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(server.requests.length, 3)
      assert.include(error.message, "503")
      assert.include(error.message, "gave up after 3 attempts")
    }),
  )

  it.scoped("an auth failure fails at once with a clear message and no retry", () =>
    Effect.gen(function* () {
      const server = yield* serve(() => ({ status: 401, body: { error: "invalid token" } }))
      const crm = Rest.source({ baseUrl: server.url, auth: RestAuth.bearer("tok-SECRET-123") })
      const error = yield* Effect.flip(read(crm, crm.endpoint("companies", { key: "id" })))
      assert.strictEqual(error._tag, "SourceError")
      assert.include(error.message, "401 Unauthorized")
      assert.include(error.message, "credentials")
      assert.notInclude(JSON.stringify(error), "tok-SECRET-123")
      assert.strictEqual(server.requests.length, 1)
    }),
  )

  it.scoped("a malformed body or records that are not a list fail clearly, without retrying", () =>
    Effect.gen(function* () {
      const server = yield* serve((req) =>
        req.url.pathname === "/broken"
          ? { raw: '{"items": [1, 2' }
          : { body: { data: { things: [], name: "x" } } },
      )
      const crm = Rest.source({ baseUrl: server.url })
      const broken = yield* Effect.flip(read(crm, crm.endpoint("broken", { key: "id", records: "items" })))
      assert.include(broken.message, "GET /broken")
      assert.include(broken.message, "not JSON")
      const text = yield* Effect.flip(read(crm, crm.endpoint("wrong", { key: "id", records: "data.name" })))
      assert.include(text.message, 'expected an array of records at "data.name", found a string')
      const keyless = yield* Effect.flip(read(crm, crm.endpoint("wrong", { key: "id", records: "data" })))
      assert.include(keyless.message, "found an object")
      // Nothing at the path is an empty page (APIs leave out empty lists), as is null.
      const missing = yield* read(crm, crm.endpoint("wrong", { key: "id", records: "data.items" }))
      assert.deepStrictEqual(missing, [])
      assert.strictEqual(server.requests.length, 4)
    }),
  )

  it.scoped("a request that does not answer in time is retried, then fails", () =>
    Effect.gen(function* () {
      const server = yield* serve(() => ({ hang: true }))
      const crm = Rest.source({ baseUrl: server.url, timeout: "5 seconds", retries: 1, backoff: "1 second" })
      const fiber = yield* Effect.fork(Effect.flip(read(crm, crm.endpoint("slow", { key: "id" }))))
      yield* until(() => server.requests.length === 1, "the first request")
      yield* TestClock.adjust("5 seconds")
      yield* settle()
      yield* TestClock.adjust("2 seconds")
      yield* until(() => server.requests.length === 2, "the retry")
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.include(error.message, "timed out after 5s")
    }),
  )

  it.scoped("the rate limit spaces requests", () =>
    Effect.gen(function* () {
      const server = yield* serve((req) => ({
        body: companies.slice(int(req, "page", 1) - 1, int(req, "page", 1)),
      }))
      const crm = Rest.source({ baseUrl: server.url, rateLimit: { limit: 2, interval: "1 second" } })
      const fiber = yield* Effect.fork(
        read(crm, crm.endpoint("companies", { key: "id", pagination: Pagination.page() })),
      )
      yield* until(() => server.requests.length === 2, "the burst")
      yield* settle()
      assert.strictEqual(server.requests.length, 2, "a bucket of 2 lets 2 through at once")
      for (let n = 3; n <= 8; n++) {
        yield* TestClock.adjust("499 millis")
        yield* settle(20)
        assert.strictEqual(server.requests.length, n - 1, `request ${n} waits for its token`)
        yield* TestClock.adjust("1 millis")
        yield* until(() => server.requests.length === n, `request ${n}`)
      }
      const records = yield* Fiber.join(fiber)
      assert.deepStrictEqual(ids(records), all)
    }),
  )
})

describe("Rest source: auth and incremental reads", () => {
  const authorized =
    (check: (req: Seen) => boolean) =>
    (req: Seen): Reply =>
      check(req) ? { body: companies } : { status: 401, body: { error: "no" } }

  it.scoped("bearer, basic and API keys in a header or the query", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [RestAuth.Auth, (req: Seen) => boolean]> = [
        [RestAuth.bearer("t0ken"), (r) => r.headers.authorization === "Bearer t0ken"],
        [
          RestAuth.basic("ann", "pa55"),
          (r) => r.headers.authorization === `Basic ${Buffer.from("ann:pa55").toString("base64")}`,
        ],
        [RestAuth.apiKey({ header: "X-Api-Key" }, "k3y"), (r) => r.headers["x-api-key"] === "k3y"],
        [RestAuth.apiKey({ query: "api_key" }, "k3y"), (r) => r.url.searchParams.get("api_key") === "k3y"],
      ]
      for (const [auth, check] of cases) {
        const server = yield* serve(authorized(check))
        const crm = Rest.source({ baseUrl: server.url, auth })
        assert.deepStrictEqual(
          ids(yield* read(crm, crm.endpoint("companies", { key: "id" }))),
          all,
          auth._tag,
        )
      }
      const server = yield* serve(() => ({ status: 403, body: {} }))
      const crm = Rest.source({
        baseUrl: server.url,
        auth: RestAuth.apiKey({ query: "api_key" }, Config.redacted("CRM_KEY")),
      })
      const error = yield* Effect.flip(
        read(crm, crm.endpoint("companies", { key: "id" })).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["CRM_KEY", "very-secret-key"]]))),
        ),
      )
      assert.include(error.message, "GET /companies: 403 Forbidden")
      assert.notInclude(JSON.stringify(error), "very-secret-key")
    }),
  )

  it.scoped("OAuth2 client credentials: one token for many pages, fetched again once on 401", () =>
    Effect.gen(function* () {
      let issued = 0
      let valid = "none"
      const server = yield* serve((req) => {
        if (req.url.pathname === "/oauth/token") {
          const ok =
            req.method === "POST" &&
            req.headers.authorization === `Basic ${Buffer.from("client-1:shh").toString("base64")}` &&
            new URLSearchParams(req.body).get("grant_type") === "client_credentials"
          if (!ok) return { status: 401, body: { error: "invalid_client" } }
          valid = `token-${++issued}`
          return { body: { access_token: valid, token_type: "bearer", expires_in: 3600 } }
        }
        if (req.headers.authorization !== `Bearer ${valid}`) return { status: 401, body: {} }
        const page = int(req, "page", 1)
        return { body: companies.slice((page - 1) * 3, page * 3) }
      })
      const auth = RestAuth.oauth2ClientCredentials({
        tokenUrl: `${server.url}/oauth/token`,
        clientId: "client-1",
        clientSecret: "shh",
      })
      const crm = Rest.source({ baseUrl: server.url, auth })
      const stream = crm.endpoint("companies", { key: "id", pagination: Pagination.page({ size: 3 }) })
      const connection = yield* crm.connect
      const first = Chunk.toReadonlyArray(
        yield* Stream.runCollect(connection.read(stream.spec as Rest.EndpointSpec, {})),
      )
      assert.deepStrictEqual(ids(first), all)
      assert.strictEqual(issued, 1)
      valid = "revoked"
      const second = Chunk.toReadonlyArray(
        yield* Stream.runCollect(connection.read(stream.spec as Rest.EndpointSpec, {})),
      )
      assert.deepStrictEqual(ids(second), all)
      assert.strictEqual(issued, 2)

      const wrong = Rest.source({
        baseUrl: server.url,
        auth: RestAuth.oauth2ClientCredentials({
          tokenUrl: `${server.url}/oauth/token`,
          clientId: "client-1",
          clientSecret: "nope-secret",
        }),
      })
      const error = yield* Effect.flip(read(wrong, wrong.endpoint("companies", { key: "id" })))
      assert.include(error.message, "OAuth2 token request")
      assert.include(error.message, "401")
      assert.notInclude(JSON.stringify(error), "nope-secret")
    }),
  )

  it.scoped("incremental reads pass the checkpoint and skip what it covers", () =>
    Effect.gen(function* () {
      const server = yield* serve((req) => {
        const since = req.url.searchParams.get("updated_since")
        return { body: { data: companies.filter((c) => since === null || c.updated_at >= since) } }
      })
      const crm = Rest.source({ baseUrl: server.url })
      const stream = crm.endpoint("companies", {
        key: "id",
        records: "data",
        incremental: { param: "updated_since", cursorField: "updated_at" },
        query: { sort: "updated_at" },
      })
      const first = yield* read(crm, stream)
      assert.deepStrictEqual(ids(first), all)
      assert.deepStrictEqual(first[3]!.position, { cursor: "2024-01-02T00:00:00Z", key: [4] })
      const rest = yield* read(crm, stream, { after: first[3]!.position })
      assert.deepStrictEqual(ids(rest), [5, 6, 7])
      assert.strictEqual(
        server.requests.at(-1)!.url.searchParams.get("updated_since"),
        "2024-01-02T00:00:00Z",
      )
      assert.strictEqual(server.requests.at(-1)!.url.searchParams.get("sort"), "updated_at")
      const stale = yield* Effect.flip(
        read(crm, crm.endpoint("companies", { key: "id", records: "data" }), { after: first[3]!.position }),
      )
      assert.include(stale.message, "does not fit")
    }),
  )
})
