import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import type * as Source from "@b24etl/core/Source"
import * as SourceKey from "@b24etl/core/SourceKey"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Config, ConfigProvider, Context, Effect, Layer, Stream } from "effect"
import { sql } from "kysely"
import * as Pagination from "../src/Pagination.js"
import * as Postgres from "../src/Postgres.js"
import * as Rest from "../src/Rest.js"
import * as RestAuth from "../src/RestAuth.js"
import * as Databases from "./support/databases.js"
import * as LegacyApi from "./support/legacyApi.js"
import { ticking } from "./support/server.js"

/**
 * The examples of the source reference (`README.md`), each run here: the code between the
 * `README` markers below is the README's, character for character but for indentation, the
 * import paths and the example host (the first test checks it).
 */

describe("README examples are this file's code", () => {
  it("every TypeScript block of the README appears here", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8")
    const self = readFileSync(fileURLToPath(import.meta.url), "utf8")
    // Layout may differ (the formatter wraps this file's deeper-indented lines): compare the code, not the spacing.
    const flat = (text: string) =>
      text
        .replace(/\s+/g, " ")
        .replace(/,\s*([}\])])/g, " $1")
        .replace(/([{[(])\s+/g, "$1")
        .replace(/\s+([}\])])/g, "$1")
        .trim()
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    const examples = blocks.filter(
      (b) => !b.split("\n").every((line) => line === "" || line.startsWith("import ")),
    )
    const markers = [...self.matchAll(/\/\/ README: (?!end\n)/g)].length
    assert.strictEqual(examples.length, markers, "one README block per marked example here")
    for (const block of examples) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of this file's code, not a template
      const code = block.replaceAll('"https://crm.example.com/oauth/token"', "`${api.url}/oauth/token`")
      assert.include(flat(self), flat(code), `README block not found in ReadmeExamples.test.ts:\n${block}`)
    }
  })
})

const collect = (stream: Source.SourceStream, after?: Source.ReadRequest["after"]) =>
  Effect.flatMap(stream.source.connect, (connection) =>
    Stream.runCollect(connection.read(stream.spec, after === undefined ? {} : { after })),
  ).pipe(Effect.map(Chunk.toReadonlyArray), Effect.scoped)

class ReadmeDb extends Context.Tag("test/ReadmeDb")<ReadmeDb, Databases.Admin>() {}

const keys = (records: ReadonlyArray<Source.SourceRecord>) => records.map((r) => r.key)

describe("README examples: SQL", () => {
  const database = "b24etl_conn_readme"
  const settings = ConfigProvider.fromMap(new Map([["LEGACY_DATABASE_URL", Databases.pgUrl(database)]]))
  const datetime = (minute: number) => `2024-03-01 10:${String(minute).padStart(2, "0")}:00`

  const seeded = Layer.scoped(
    ReadmeDb,
    Effect.gen(function* () {
      const admin = yield* Databases.postgres(database)
      yield* Databases.exec(
        admin,
        sql`CREATE TABLE accounts (id int PRIMARY KEY, name text, account_type text, deleted smallint NOT NULL DEFAULT 0, date_entered timestamp NOT NULL, date_modified timestamp NOT NULL)`,
        sql`INSERT INTO accounts VALUES (1, 'Acme', 'Customer', 0, '2023-05-01', ${datetime(1)}), (2, NULL, 'Partner', 0, '2024-02-01', ${datetime(2)}),
          (3, 'Gone', 'Customer', 1, '2024-02-02', ${datetime(3)}), (4, 'Maybe', 'Prospect', 0, '2024-02-03', ${datetime(4)})`,
        sql`CREATE TABLE contacts (id varchar(36) PRIMARY KEY, account_id int NOT NULL, last_name text NOT NULL, date_modified timestamp NOT NULL, deleted smallint NOT NULL DEFAULT 0)`,
        sql`INSERT INTO contacts VALUES ('c1', 1, 'Ng', ${datetime(1)}, 0), ('c2', 2, 'Roe', ${datetime(5)}, 0), ('c3', 1, 'Poe', ${datetime(2)}, 0)`,
        sql`CREATE TABLE email_addresses (id varchar(36) PRIMARY KEY, email_address text NOT NULL, date_modified timestamp NOT NULL, deleted smallint NOT NULL DEFAULT 0)`,
        sql`CREATE TABLE email_addr_bean_rel (id varchar(36) PRIMARY KEY, email_address_id varchar(36) NOT NULL, bean_id varchar(36) NOT NULL, bean_module text NOT NULL, date_modified timestamp NOT NULL, deleted smallint NOT NULL DEFAULT 0)`,
        sql`INSERT INTO email_addresses VALUES ('e1', 'ng@example.com', ${datetime(1)}, 0), ('e3', 'poe@example.com', ${datetime(3)}, 0)`,
        sql`INSERT INTO email_addr_bean_rel VALUES ('r1', 'e1', 'c1', 'Contacts', ${datetime(1)}, 0), ('r3', 'e3', 'c3', 'Contacts', ${datetime(1)}, 0)`,
      )
      return admin
    }),
  )

  const tables = () => {
    // README: table
    const legacy = Postgres.source({ name: "legacy-crm", url: Config.redacted("LEGACY_DATABASE_URL") })
    const accounts = legacy.table("accounts", {
      key: "id",
      cursor: "date_modified",
      columns: ["id", "name", "date_modified"],
      where: { deleted: 0, account_type: ["Customer", "Partner"] },
      pageSize: 5_000,
      chunkSize: 500,
    })
    const recent = legacy.table("accounts", { key: "id", where: sql`date_entered >= ${"2024-01-01"}` })
    const named = legacy.table("accounts", { key: "id", where: "name IS NOT NULL" })
    // README: end
    return { legacy, accounts, recent, named }
  }

  const query = (legacy: Postgres.PostgresSource) => {
    // README: query
    const people = legacy.query(
      "SELECT a.account_type AS region, c.id, c.last_name FROM contacts c JOIN accounts a ON a.id = c.account_id",
      { key: ["region", "id"] },
    )
    // README: end
    return people
  }

  const sideTables = (legacy: Postgres.PostgresSource) => {
    // README: side tables
    const contacts = legacy.query(
      `SELECT c.id, c.last_name, c.date_modified,
     string_agg(CASE WHEN r.deleted = 0 THEN e.email_address END, ',' ORDER BY e.email_address) AS emails,
     max(GREATEST(r.date_modified, e.date_modified)) AS emails_modified
   FROM contacts c
   LEFT JOIN email_addr_bean_rel r ON r.bean_id = c.id AND r.bean_module = 'Contacts'
   LEFT JOIN email_addresses e ON e.id = r.email_address_id
   WHERE c.deleted = 0
   GROUP BY c.id, c.last_name, c.date_modified`,
      {
        key: "id",
        cursor: {
          as: "changed_at",
          sql: "GREATEST(date_modified, COALESCE(emails_modified, date_modified))",
        },
      },
    )
    const contactRows = legacy.table("contacts", {
      key: "id",
      where: { deleted: 0 },
      cursor: {
        as: "changed_at",
        sql: `GREATEST(contacts.date_modified, COALESCE(
            (SELECT max(GREATEST(r.date_modified, e.date_modified))
             FROM email_addr_bean_rel r JOIN email_addresses e ON e.id = r.email_address_id
             WHERE r.bean_id = contacts.id AND r.bean_module = 'Contacts'),
            contacts.date_modified))`,
      },
    })
    // README: end
    return { contacts, contactRows }
  }

  it.layer(seeded, { timeout: 60_000 })((it) => {
    it.scoped("tables with every option, queries with a compound key, a cursor over side tables", () =>
      Effect.gen(function* () {
        const admin = yield* ReadmeDb
        const { legacy, accounts, recent, named } = tables()
        const read = (stream: Source.SourceStream, after?: Source.ReadRequest["after"]) =>
          Effect.withConfigProvider(collect(stream, after), settings)
        const active = yield* read(accounts)
        assert.deepStrictEqual(keys(active), ["1", "2"])
        assert.deepStrictEqual(Object.keys(active[0]!.data).sort(), ["date_modified", "id", "name"])
        assert.deepStrictEqual(keys(yield* read(accounts, active[0]!.position)), ["2"])
        assert.deepStrictEqual(keys(yield* read(recent)), ["2", "3", "4"])
        assert.deepStrictEqual(keys(yield* read(named)), ["1", "3", "4"])

        const people = yield* read(query(legacy))
        assert.deepStrictEqual(keys(people), [
          SourceKey.make(["Customer", "c1"]),
          SourceKey.make(["Customer", "c3"]),
          SourceKey.make(["Partner", "c2"]),
        ])

        const { contacts, contactRows } = sideTables(legacy)
        for (const [stream, minute] of [
          [contacts, 30],
          [contactRows, 40],
        ] as const) {
          const first = yield* read(stream)
          // The second stream sees c3 already changed by the first pass.
          assert.deepStrictEqual(keys(first), stream === contacts ? ["c1", "c3", "c2"] : ["c1", "c2", "c3"])
          // Only c3's address changes; the contact row is untouched.
          yield* Databases.exec(
            admin,
            sql`UPDATE email_addresses SET email_address = 'poe@new.example', date_modified = ${datetime(minute)} WHERE id = 'e3'`,
          )
          const next = yield* read(stream, first.at(-1)!.position)
          assert.deepStrictEqual(keys(next), ["c3"], "the contact of the changed address comes again")
          if (stream === contacts) assert.strictEqual(next[0]!.data.emails, "poe@new.example")
        }
      }),
    )
  })
})

describe("README examples: REST", () => {
  const source = () => {
    // README: source
    const crm = Rest.source({
      name: "pipedrive",
      baseUrl: Config.string("CRM_URL"),
      auth: RestAuth.apiKey({ query: "api_token" }, Config.redacted("CRM_TOKEN")),
      rateLimit: { limit: 10, interval: "1 second" },
      timeout: "30 seconds",
      retries: 5,
      backoff: "500 millis",
      maxRetryAfter: "5 minutes",
      headers: { "Accept-Language": "en" },
    })
    // README: end
    return crm
  }

  const endpoint = (crm: Rest.RestSource) => {
    // README: endpoint
    const ownedOrganizations = crm.endpoint("organizations", {
      key: "id",
      records: "data",
      pagination: Pagination.offset({ offsetParam: "start", limit: 3 }),
      query: { sort: "update_time ASC", owner_id: "{owner}" },
      vars: { owner: Config.string("CRM_OWNER") },
    })
    // README: end
    return ownedOrganizations
  }

  const pipedriveV1 = (crm: Rest.RestSource) => {
    // README: Pipedrive v1
    const organizations = crm.endpoint("organizations", {
      key: "id",
      records: "data",
      pagination: Pagination.offset({
        offsetParam: "start",
        limit: 500,
        stop: { more: "additional_data.pagination.more_items_in_collection" },
      }),
    })
    // README: end
    return organizations
  }

  const pages = (crm: Rest.RestSource) => {
    // README: pages, next URL, Link header
    const byPage = crm.endpoint("organizations", {
      key: "id",
      records: "data",
      pagination: Pagination.page({ size: 3, stop: { total: "meta.total" } }),
    })
    const byNextUrl = crm.endpoint("organizations", {
      key: "id",
      records: "data",
      pagination: Pagination.nextUrl("links.next", { size: 3, sizeParam: "per_page" }),
    })
    const byLink = crm.endpoint("organizations", {
      key: "id",
      records: "data",
      pagination: Pagination.link({ size: 3, stop: "shortPage" }),
    })
    // README: end
    return { byPage, byNextUrl, byLink }
  }

  const cursors = (crm: Rest.RestSource) => {
    // README: cursors
    const persons = crm.endpoint("persons", {
      key: "id",
      records: "data",
      pagination: Pagination.cursor({ next: "additional_data.next_cursor", size: 100 }),
    })
    const stripeDeals = crm.endpoint("deals", {
      key: "id",
      records: "data",
      pagination: Pagination.cursor({
        param: "starting_after",
        next: "last_id",
        size: 100,
        stop: { more: "has_more" },
      }),
    })
    // README: end
    return { persons, stripeDeals }
  }

  const incremental = (crm: Rest.RestSource) => {
    // README: incremental
    const changedPersons = crm.endpoint("persons", {
      key: "id",
      records: "data",
      pagination: Pagination.cursor({ next: "additional_data.next_cursor", size: 100 }),
      incremental: {
        param: "updated_since",
        cursorField: "update_time",
        format: "rfc3339",
        start: "2020-01-01T00:00:00Z",
        lookback: "10 minutes",
      },
    })
    // README: end
    return changedPersons
  }

  const children = (crm: Rest.RestSource) => {
    // README: child endpoints
    const owners = crm.endpoint("organizations", {
      key: "id",
      records: "data",
      pagination: Pagination.offset({
        offsetParam: "start",
        limit: 500,
        stop: { more: "additional_data.pagination.more_items_in_collection" },
      }),
    })
    const members = crm.endpoint("organizations/{id}/persons", {
      key: ["org_key", "id"],
      records: "data",
      parent: { stream: owners, as: "org_key" },
      pagination: Pagination.offset({
        offsetParam: "start",
        limit: 500,
        stop: { more: "additional_data.pagination.more_items_in_collection" },
      }),
      incremental: { param: "updated_since", cursorField: "update_time", format: "rfc3339" },
    })
    // README: end
    return members
  }

  const auths = (api: LegacyApi.LegacyApi) => {
    // README: auth
    const withBearer = RestAuth.bearer(Config.redacted("CRM_TOKEN"))
    const withBasic = RestAuth.basic("crm-user", Config.redacted("CRM_TOKEN"))
    const withHeader = RestAuth.apiKey({ header: "X-Api-Key" }, Config.redacted("CRM_TOKEN"))
    const withQuery = RestAuth.apiKey({ query: "api_token" }, Config.redacted("CRM_TOKEN"))
    const withOAuth = RestAuth.oauth2ClientCredentials({
      tokenUrl: `${api.url}/oauth/token`,
      clientId: "client-1",
      clientSecret: Config.redacted("CRM_TOKEN"),
    })
    // README: end
    return [withBearer, withBasic, withHeader, withQuery, withOAuth]
  }

  /** Reads with the settings the examples name, the base URL pointing at one version of the local API. */
  const reading = (api: LegacyApi.LegacyApi, version: "v1" | "v2" | "v3") => {
    const settings = ConfigProvider.fromMap(
      new Map([
        ["CRM_URL", `${api.url}/${version}/`],
        ["CRM_TOKEN", api.token],
        ["CRM_OWNER", "2"],
      ]),
    )
    return (stream: Source.SourceStream, after?: Source.ReadRequest["after"]) =>
      ticking(Effect.withConfigProvider(collect(stream, after), settings))
  }
  const ids = (records: ReadonlyArray<Source.SourceRecord>) =>
    records.map((r) => r.data.id as number).sort((a, b) => a - b)
  const organizationIds = [1, 2, 3, 4, 5, 6, 7]

  it.scoped("the source, an endpoint with vars, and every pagination style", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = source()
      const v1 = reading(api, "v1")
      assert.deepStrictEqual(ids(yield* v1(endpoint(crm))), organizationIds)
      const first = api.server.seen("/v1/organizations")[0]!
      assert.strictEqual(first.url.searchParams.get("owner_id"), "2")
      assert.strictEqual(first.headers["accept-language"], "en")
      assert.deepStrictEqual(ids(yield* v1(pipedriveV1(crm))), organizationIds)

      const v3 = reading(api, "v3")
      const { byPage, byNextUrl, byLink } = pages(crm)
      for (const stream of [byPage, byNextUrl, byLink])
        assert.deepStrictEqual(ids(yield* v3(stream)), organizationIds)

      const v2 = reading(api, "v2")
      const { persons, stripeDeals } = cursors(crm)
      assert.deepStrictEqual(
        ids(yield* v2(persons)),
        api.persons.map((p) => p.id).sort((a, b) => a - b),
      )
      assert.deepStrictEqual(
        ids(yield* v2(stripeDeals)),
        api.deals.map((d) => d.id),
      )
    }),
  )

  it.scoped("incremental reads and child endpoints pick up a change made between two runs", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const crm = source()
      const everyone = api.persons.map((p) => p.id).sort((a, b) => a - b)

      const v2 = reading(api, "v2")
      const changedPersons = incremental(crm)
      const first = yield* v2(changedPersons)
      assert.deepStrictEqual(ids(first), everyone)
      api.persons[1]!.update_time = LegacyApi.at(59)
      const second = yield* v2(changedPersons, first.at(-1)!.position)
      // The lookback of 10 minutes reads the last few again; the changed person is among them.
      assert.include(ids(second), api.persons[1]!.id)
      assert.isTrue(second.every((r) => r.position !== undefined))

      const v1 = reading(api, "v1")
      const members = children(crm)
      const all = yield* v1(members)
      assert.deepStrictEqual(ids(all), everyone)
      api.persons[4]!.name = "changed"
      api.persons[4]!.update_time = LegacyApi.at(59)
      const next = yield* v1(members, all.at(-1)!.position)
      assert.deepStrictEqual(ids(next), [api.persons[4]!.id])
      assert.strictEqual(next[0]!.data.org_key, api.persons[4]!.org_id)
    }),
  )

  it.scoped("every auth", () =>
    Effect.gen(function* () {
      const api = yield* LegacyApi.make(3)
      const v1 = reading(api, "v1")
      for (const auth of auths(api)) {
        const crm = Rest.source({ baseUrl: Config.string("CRM_URL"), auth })
        const records = yield* v1(crm.endpoint("organizations", { key: "id", records: "data" }))
        assert.deepStrictEqual(ids(records), [1, 2, 3], auth._tag)
      }
      const refused = Rest.source({ baseUrl: `${api.url}/v1/` })
      const error = yield* Effect.flip(
        collect(refused.endpoint("organizations", { key: "id", records: "data" })),
      )
      assert.include(error.message, "401")
    }),
  )
})
