import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { type Kysely, type RawBuilder, sql } from "kysely"
import * as Database from "../pipelines/legacy/Database.js"
import { pg } from "../pipelines/legacy/internal/pg.js"
import * as Mapping from "../pipelines/legacy/mapping.js"
import type { LegacyDatabase, LegacyDialect } from "../pipelines/legacy/schema.js"
import * as Seed from "../pipelines/legacy/seed.js"

/**
 * The demo legacy CRM: seeded into the real PostgreSQL and the real MariaDB (one suite per
 * dialect), and as the embedded PGlite database served over a socket; plus the mapping helpers
 * on the awkward values the seed produces.
 */

interface Target {
  readonly dialect: LegacyDialect
  readonly admin: string
  readonly url: string
  readonly create: string
  readonly drop: string
}

const targets: ReadonlyArray<Target> = [
  {
    dialect: "postgres",
    admin: "postgres://postgres@127.0.0.1:5432/postgres",
    url: "postgres://postgres@127.0.0.1:5432/b24etl_legacy_pg",
    create: "CREATE DATABASE b24etl_legacy_pg ENCODING 'UTF8'",
    drop: "DROP DATABASE IF EXISTS b24etl_legacy_pg WITH (FORCE)",
  },
  {
    dialect: "mysql",
    admin: "mysql://root@127.0.0.1:3306/test",
    url: "mysql://root@127.0.0.1:3306/b24etl_legacy_mysql",
    create: "CREATE DATABASE b24etl_legacy_mysql CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    drop: "DROP DATABASE IF EXISTS b24etl_legacy_mysql",
  },
]

class Legacy extends Context.Tag("test/legacy-seed/Legacy")<Legacy, Database.LegacyConnection>() {}

/** A fresh database on the server, dropped when the suite ends. */
const legacyLayer = (target: Target) =>
  Layer.scoped(
    Legacy,
    Effect.gen(function* () {
      const admin = yield* Database.connect(target.admin, { poolSize: 1 })
      const exec = (statement: string) => Effect.promise(() => sql.raw(statement).execute(admin.db))
      yield* Effect.acquireRelease(Effect.zipRight(exec(target.drop), exec(target.create)), () =>
        exec(target.drop),
      )
      return yield* Database.connect(target.url)
    }).pipe(Effect.orDie),
  )

const query = <Row>(db: Kysely<LegacyDatabase>, statement: RawBuilder<Row>) =>
  Effect.promise(() => statement.execute(db)).pipe(Effect.map((result) => result.rows))

const count = (db: Kysely<LegacyDatabase>, statement: RawBuilder<{ n: unknown }>) =>
  query(db, statement).pipe(Effect.map((rows) => Number(rows[0]!.n)))

// Rows as comparable JSON: dates as ISO text, char(3) without PostgreSQL's blank padding.
const normalize = (row: object): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(row).map(([key, value]) => [
      key,
      value instanceof Date
        ? value.toISOString()
        : key === "currency" && typeof value === "string"
          ? value.trimEnd()
          : value,
    ]),
  )

const dump = (db: Kysely<LegacyDatabase>) =>
  Effect.promise(async () => ({
    owners: (await db.selectFrom("owners").selectAll().orderBy("id").execute()).map(normalize),
    accounts: (await db.selectFrom("accounts").selectAll().orderBy("id").execute()).map(normalize),
    people: (await db.selectFrom("people").selectAll().orderBy("id").execute()).map(normalize),
    opportunities: (await db.selectFrom("opportunities").selectAll().orderBy("id").execute()).map(normalize),
    opportunity_contacts: (
      await db
        .selectFrom("opportunity_contacts")
        .selectAll()
        .orderBy("opportunity_id")
        .orderBy("person_id")
        .execute()
    ).map(normalize),
  }))

const expected = (rows: Seed.LegacyRows) => ({
  owners: rows.owners.map(normalize),
  accounts: rows.accounts.map(normalize),
  people: rows.people.map(normalize),
  opportunities: rows.opportunities.map(normalize),
  opportunity_contacts: rows.opportunity_contacts.map(normalize),
})

const companies = 200

for (const target of targets) {
  describe(`legacy seed on ${target.dialect}`, () => {
    layer(legacyLayer(target), { timeout: "120 seconds", excludeTestServices: true })((it) => {
      it.effect("seeds 200 companies with people, opportunities, orphans and ascending timestamps", () =>
        Effect.gen(function* () {
          const { db, dialect } = yield* Legacy
          const started = Date.now()
          const counts = yield* Seed.seed(db, dialect, { companies, seed: 42, reset: true })
          yield* Effect.log(`${dialect}: seeded ${JSON.stringify(counts)} in ${Date.now() - started} ms`)

          assert.strictEqual(counts.companies, companies)
          assert.strictEqual(yield* count(db, sql`SELECT count(*) AS n FROM accounts`), companies)
          assert.strictEqual(yield* count(db, sql`SELECT count(*) AS n FROM people`), counts.people)
          assert.strictEqual(
            yield* count(db, sql`SELECT count(*) AS n FROM opportunities`),
            counts.opportunities,
          )
          assert.strictEqual(
            yield* count(db, sql`SELECT count(*) AS n FROM opportunity_contacts`),
            counts.opportunityContacts,
          )
          assert.strictEqual(yield* count(db, sql`SELECT count(*) AS n FROM owners`), counts.owners)
          // About 3 people and 2 opportunities per company.
          assert.isAtLeast(counts.people, 2.5 * companies)
          assert.isAtMost(counts.people, 3.5 * companies)
          assert.isAtLeast(counts.opportunities, 1.6 * companies)
          assert.isAtMost(counts.opportunities, 2.4 * companies)
          assert.isAbove(counts.softDeletedCompanies, 0)
          assert.strictEqual(
            yield* count(db, sql`SELECT count(*) AS n FROM accounts WHERE deleted_at IS NOT NULL`),
            counts.softDeletedCompanies,
          )

          // A few orphaned references of every kind, exactly as many as the seed reports.
          const orphans = {
            peopleAccount: yield* count(
              db,
              sql`SELECT count(*) AS n FROM people p LEFT JOIN accounts a ON a.id = p.account_id
                  WHERE p.account_id IS NOT NULL AND a.id IS NULL`,
            ),
            opportunityAccount: yield* count(
              db,
              sql`SELECT count(*) AS n FROM opportunities o LEFT JOIN accounts a ON a.id = o.account_id
                  WHERE o.account_id IS NOT NULL AND a.id IS NULL`,
            ),
            opportunityPrimaryContact: yield* count(
              db,
              sql`SELECT count(*) AS n FROM opportunities o LEFT JOIN people p ON p.id = o.primary_contact_id
                  WHERE o.primary_contact_id IS NOT NULL AND p.id IS NULL`,
            ),
            opportunityContact: yield* count(
              db,
              sql`SELECT count(*) AS n FROM opportunity_contacts l LEFT JOIN people p ON p.id = l.person_id
                  WHERE p.id IS NULL`,
            ),
            owner: yield* count(
              db,
              sql`SELECT count(*) AS n FROM (
                    SELECT owner_id FROM accounts UNION ALL SELECT owner_id FROM people
                    UNION ALL SELECT owner_id FROM opportunities) r
                  LEFT JOIN owners o ON o.id = r.owner_id WHERE r.owner_id IS NOT NULL AND o.id IS NULL`,
            ),
          }
          assert.deepStrictEqual(orphans, counts.orphans)
          for (const [kind, n] of Object.entries(orphans)) {
            assert.isAbove(n, 0, `orphans of kind ${kind}`)
          }
          assert.isAtMost(orphans.peopleAccount, Math.ceil(counts.people * 0.02))
          assert.isAtMost(orphans.opportunityPrimaryContact, Math.ceil(counts.opportunities * 0.02))

          // created_at grows with id, updated_at never before it, nothing after the legacy "now".
          for (const table of ["accounts", "people", "opportunities"] as const) {
            const rows = yield* Effect.promise(() =>
              db.selectFrom(table).select(["id", "created_at", "updated_at"]).orderBy("id").execute(),
            )
            assert.strictEqual(rows.length, table === "accounts" ? companies : rows.length)
            rows.forEach((row, i) => {
              assert.instanceOf(row.created_at, Date)
              if (i > 0)
                assert.isAbove(
                  row.created_at.getTime(),
                  rows[i - 1]!.created_at.getTime(),
                  `${table} ${row.id}`,
                )
              assert.isAtLeast(row.updated_at.getTime(), row.created_at.getTime(), `${table} ${row.id}`)
              assert.isAtMost(row.updated_at.getTime(), Seed.legacyNow.getTime(), `${table} ${row.id}`)
            })
          }
          const marker = yield* Seed.readSeedMarker(db, dialect)
          assert.isDefined(marker)
          assert.deepStrictEqual(
            { seed: marker!.seed, companies: marker!.companies, counts: marker!.counts },
            {
              seed: 42,
              companies,
              counts,
            },
          )
        }),
      )

      it.effect("round-trips every row, unicode included, and the same seed gives the same rows", () =>
        Effect.gen(function* () {
          const { db, dialect } = yield* Legacy
          yield* Seed.seed(db, dialect, { companies, seed: 42, reset: true })
          const first = yield* dump(db)
          // Exactly what the generator made: names with umlauts, Cyrillic, CJK and emoji included.
          assert.deepStrictEqual(first, expected(Seed.generate({ companies, seed: 42 }).rows))
          const names = first.accounts.map((a) => String(a.name))
          const people = first.people.map((p) => `${p.first_name} ${p.last_name ?? ""}`)
          assert.isTrue(
            [...names, ...people].some((n) => /[äöüÄÖÜß]/.test(n)),
            "umlauts",
          )
          assert.isTrue(
            [...names, ...people].some((n) => /\p{Script=Cyrillic}/u.test(n)),
            "Cyrillic",
          )
          assert.isTrue(
            [...names, ...people].some((n) => /\p{Script=Han}/u.test(n)),
            "CJK",
          )
          assert.isTrue(
            names.some((n) => /\p{Extended_Pictographic}/u.test(n)),
            "emoji",
          )
          assert.isTrue(
            first.people.some((p) => p.last_name === null),
            "missing last names",
          )
          assert.isTrue(
            first.opportunities.some((o) => o.title === "" || o.title === null),
            "empty titles",
          )

          yield* Seed.seed(db, dialect, { companies, seed: 42, reset: true })
          assert.deepStrictEqual(yield* dump(db), first)
          yield* Seed.seed(db, dialect, { companies, seed: 43, reset: true })
          assert.notDeepEqual((yield* dump(db)).people, first.people)
        }),
      )

      it.effect("refuses to seed over existing data unless reset", () =>
        Effect.gen(function* () {
          const { db, dialect } = yield* Legacy
          yield* Seed.seed(db, dialect, { companies: 5, seed: 1, reset: true })
          const error = yield* Effect.flip(Seed.seed(db, dialect, { companies: 5, seed: 1 }))
          assert.strictEqual(error._tag, "LegacyDatabaseError")
          assert.include(error.message, "already holds rows")
          assert.strictEqual(yield* count(db, sql`SELECT count(*) AS n FROM accounts`), 5)
          yield* Seed.reset(db, dialect)
          assert.strictEqual(yield* count(db, sql`SELECT count(*) AS n FROM accounts`), 0)
          assert.isUndefined(yield* Seed.readSeedMarker(db, dialect))
        }),
      )

      it.effect("the mapping helpers turn every seeded value into something Bitrix24 accepts", () =>
        Effect.gen(function* () {
          const { db, dialect } = yield* Legacy
          yield* Seed.seed(db, dialect, { companies, seed: 42, reset: true })
          const people = yield* Effect.promise(() =>
            db.selectFrom("people").select(["id", "phones", "emails"]).orderBy("id").execute(),
          )
          const phones = people.flatMap((p) => Mapping.parsePhones(p.phones))
          const emails = people.map((p) => Mapping.parseEmails(p.emails))
          assert.isAbove(phones.length, people.length)
          for (const phone of phones) assert.match(phone.VALUE, /^\+?\d{5,15}( ext\. \d{1,6})?$/)
          assert.isTrue(phones.some((p) => p.VALUE_TYPE === "MOBILE"))
          assert.isTrue(phones.some((p) => p.VALUE_TYPE === "FAX"))
          // Garbage-only fields give no phone at all; duplicates inside one field are dropped.
          assert.isTrue(people.some((p) => p.phones === "n/a" || p.phones === "-" || p.phones === "000"))
          for (const p of people) {
            const values = Mapping.parsePhones(p.phones).map((x) => x.VALUE)
            assert.strictEqual(new Set(values).size, values.length)
          }
          for (const list of emails) {
            for (const email of list) assert.match(email.VALUE, /^[^\s@A-Z]+@[^\s@A-Z]+\.[^\s@A-Z]{2,}$/u)
            assert.strictEqual(new Set(list.map((e) => e.VALUE)).size, list.length)
          }
          // The same address on several people (shared info@ boxes, copied addresses).
          const owners = new Map<string, Set<number>>()
          people.forEach((p, i) => {
            for (const e of emails[i]!) owners.set(e.VALUE, (owners.get(e.VALUE) ?? new Set()).add(p.id))
          })
          assert.isTrue(
            [...owners.values()].some((ids) => ids.size > 1),
            "duplicate e-mails across people",
          )

          const deals = yield* Effect.promise(() =>
            db.selectFrom("opportunities").select(["stage", "currency"]).execute(),
          )
          const stageIds = new Set(Object.values(Mapping.stageMap))
          for (const deal of deals) {
            const stage = Mapping.toStageId(deal.stage)
            assert.isTrue(stageIds.has(stage.value))
            if (deal.stage.trim().toLowerCase() in Mapping.stageMap) assert.isUndefined(stage.note)
            assert.match(Mapping.normalizeCurrency(deal.currency).value, /^[A-Z]{3}$/)
          }
          assert.isTrue(deals.some((d) => Mapping.normalizeCurrency(d.currency).note !== undefined))
        }),
      )
    })
  })
}

describe("legacy database URLs", () => {
  it.live("never show the password when a connection fails", () =>
    Effect.gen(function* () {
      for (const url of [
        "postgres://postgres:Sup3r-s3cret@127.0.0.1:1/nowhere",
        "mysql://root:Sup3r-s3cret@127.0.0.1:1/nowhere",
      ]) {
        const error = yield* Effect.flip(Effect.scoped(Database.connect(url)))
        assert.strictEqual(error._tag, "LegacyDatabaseError")
        assert.include(error.message, "cannot connect to")
        assert.include(error.message, "***")
        assert.notInclude(error.message, "Sup3r-s3cret")
        assert.notInclude(String(error.cause), "Sup3r-s3cret")
      }
      const unknown = yield* Effect.flip(Effect.scoped(Database.connect("oracle://scott:tiger@db/orcl")))
      assert.include(unknown.message, "postgres://")
      assert.notInclude(unknown.message, "tiger")
    }),
  )
})

describe("embedded legacy database", () => {
  it.live(
    "is created and seeded once, re-opened without seeding, and read through pg over the socket",
    () =>
      Effect.gen(function* () {
        const directory = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "b24etl-legacy-"))),
          (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true })),
        )
        const open = Effect.scoped(
          Effect.gen(function* () {
            const legacy = yield* Database.embedded(join(directory, "legacy"), { companies: 40, seed: 7 })
            assert.match(legacy.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/)
            // One connection: a keyset scan with parameters, page by page.
            const single = new pg.Pool({ connectionString: legacy.url, max: 1 })
            const ids: Array<number> = []
            let after = 0
            for (;;) {
              const page = yield* Effect.promise(() =>
                single.query<{ id: number; name: string; updated_at: Date }>(
                  "SELECT id, name, updated_at FROM accounts WHERE id > $1 ORDER BY id LIMIT $2",
                  [after, 15],
                ),
              )
              if (page.rows.length === 0) break
              for (const row of page.rows) assert.instanceOf(row.updated_at, Date)
              ids.push(...page.rows.map((r) => r.id))
              after = page.rows[page.rows.length - 1]!.id
            }
            yield* Effect.promise(() => single.end())
            // Several connections at once (the Postgres source's default pool is 4).
            const pool = new pg.Pool({ connectionString: legacy.url, max: 4 })
            const counts = yield* Effect.promise(() =>
              Promise.all(
                ["accounts", "people", "opportunities", "opportunity_contacts"].map((table) =>
                  pool
                    .query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)
                    .then((r) => Number(r.rows[0]!.n)),
                ),
              ),
            )
            const names = yield* Effect.promise(() =>
              pool.query<{ name: string }>("SELECT name FROM accounts ORDER BY id"),
            )
            yield* Effect.promise(() => pool.end())
            return { legacy, ids, counts, names: names.rows.map((r) => r.name) }
          }),
        )

        const first = yield* open
        assert.isTrue(first.legacy.seededNow)
        assert.strictEqual(first.legacy.seed.companies, 40)
        assert.strictEqual(first.ids.length, 40)
        assert.deepStrictEqual(
          first.ids,
          [...first.ids].sort((a, b) => a - b),
        )
        const c = first.legacy.seed.counts
        assert.deepStrictEqual(first.counts, [c.companies, c.people, c.opportunities, c.opportunityContacts])
        assert.deepStrictEqual(
          first.names,
          Seed.generate({ companies: 40, seed: 7 }).rows.accounts.map((a) => a.name),
        )
        yield* Effect.log(`embedded: seeded ${JSON.stringify(c)}, served at ${first.legacy.url}`)

        // The server is gone with the scope.
        const closed = new pg.Pool({
          connectionString: first.legacy.url,
          max: 1,
          connectionTimeoutMillis: 2000,
        })
        const refused = yield* Effect.promise(() =>
          closed.query("SELECT 1").then(
            () => false,
            () => true,
          ),
        )
        yield* Effect.promise(() => closed.end())
        assert.isTrue(refused, "the socket server stopped when the scope closed")

        const second = yield* open
        assert.isFalse(second.legacy.seededNow)
        assert.deepStrictEqual(second.legacy.seed, first.legacy.seed)
        assert.deepStrictEqual(second.ids, first.ids)
        assert.deepStrictEqual(second.counts, first.counts)
        assert.deepStrictEqual(second.names, first.names)
      }).pipe(Effect.scoped),
    300_000,
  )
})

describe("legacy mapping helpers", () => {
  it("parses phone fields in legacy shapes", () => {
    assert.deepStrictEqual(Mapping.parsePhones("+49 30 1234567; mobile: 0171/2345678"), [
      { VALUE: "+49301234567", VALUE_TYPE: "WORK" },
      { VALUE: "+491712345678", VALUE_TYPE: "MOBILE" },
    ])
    assert.deepStrictEqual(Mapping.parsePhones("(030) 123-45-67"), [
      { VALUE: "+49301234567", VALUE_TYPE: "WORK" },
    ])
    assert.deepStrictEqual(Mapping.parsePhones("0049 30 1234567"), [
      { VALUE: "+49301234567", VALUE_TYPE: "WORK" },
    ])
    assert.deepStrictEqual(Mapping.parsePhones("+7 (495) 123 45 67"), [
      { VALUE: "+74951234567", VALUE_TYPE: "WORK" },
    ])
    assert.deepStrictEqual(Mapping.parsePhones("8 (495) 123-45-67 доб. 12, моб. 8 916 123-45-67"), [
      { VALUE: "+74951234567 ext. 12", VALUE_TYPE: "WORK" },
      { VALUE: "+79161234567", VALUE_TYPE: "MOBILE" },
    ])
    assert.deepStrictEqual(Mapping.parsePhones("+49 (0)89 12345-0 ext. 12"), [
      { VALUE: "+4989123450 ext. 12", VALUE_TYPE: "WORK" },
    ])
    assert.deepStrictEqual(Mapping.parsePhones("+1-415-555-0123 x123"), [
      { VALUE: "+14155550123 ext. 123", VALUE_TYPE: "WORK" },
    ])
    assert.deepStrictEqual(
      Mapping.parsePhones("fax: +49 30 1234568 / privat: 030 7654321\nTel: 030 1234567"),
      [
        { VALUE: "+49301234568", VALUE_TYPE: "FAX" },
        { VALUE: "+49307654321", VALUE_TYPE: "HOME" },
        { VALUE: "+49301234567", VALUE_TYPE: "WORK" },
      ],
    )
    // A German mobile number without a hint is still a mobile; a remark after a number is dropped.
    assert.deepStrictEqual(Mapping.parsePhones("0171 2345678 | +49 30 1234567 (Zentrale)"), [
      { VALUE: "+491712345678", VALUE_TYPE: "MOBILE" },
      { VALUE: "+49301234567", VALUE_TYPE: "WORK" },
    ])
    // Duplicates in other spellings, and the default country for national numbers.
    assert.deepStrictEqual(Mapping.parsePhones("+49 30 1234567, 030/1234567, 0049301234567"), [
      { VALUE: "+49301234567", VALUE_TYPE: "WORK" },
    ])
    assert.deepStrictEqual(
      Mapping.parsePhones("044 123 45 67", { defaultCountryCode: "41", defaultType: "OTHER" }),
      [{ VALUE: "+41441234567", VALUE_TYPE: "OTHER" }],
    )
    for (const garbage of ["n/a", "-", "000", "", "   ", "siehe Firma", "tbd", "нет", "?", null, undefined]) {
      assert.deepStrictEqual(Mapping.parsePhones(garbage), [], String(garbage))
    }
    assert.deepStrictEqual(Mapping.parsePhones("n/a; mobile: 0171/2345678"), [
      { VALUE: "+491712345678", VALUE_TYPE: "MOBILE" },
    ])
  })

  it("parses e-mail fields: deduplicated, lower case, invalid ones dropped", () => {
    assert.deepStrictEqual(
      Mapping.parseEmails(
        "a@x.de, A@X.DE; Max Müller <max@x.de>;n/a; office(at)x.de; max@\nmailto:info@x.de",
      ),
      [
        { VALUE: "a@x.de", VALUE_TYPE: "WORK" },
        { VALUE: "max@x.de", VALUE_TYPE: "WORK" },
        { VALUE: "info@x.de", VALUE_TYPE: "WORK" },
      ],
    )
    assert.deepStrictEqual(Mapping.parseEmails("max mueller@firma.de"), [])
    assert.deepStrictEqual(Mapping.parseEmails("a@x.de b@y.com", "HOME"), [
      { VALUE: "a@x.de", VALUE_TYPE: "HOME" },
      { VALUE: "b@y.com", VALUE_TYPE: "HOME" },
    ])
    for (const invalid of ["@x.de", "max@firma", "a@@x.de", "a..b@x.de", ".a@x.de", "", null, undefined]) {
      assert.deepStrictEqual(Mapping.parseEmails(invalid), [], String(invalid))
    }
    assert.deepStrictEqual(Mapping.parseEmails("jürgen@müller.de"), [
      { VALUE: "jürgen@müller.de", VALUE_TYPE: "WORK" },
    ])
  })

  it("maps stages, currencies and owners", () => {
    assert.deepStrictEqual(Mapping.toStageId("prospect"), { value: "NEW" })
    assert.deepStrictEqual(Mapping.toStageId("qualified "), { value: "PREPARATION" })
    assert.deepStrictEqual(Mapping.toStageId(" Proposal"), { value: "PREPAYMENT_INVOICE" })
    assert.deepStrictEqual(Mapping.toStageId("negotiation"), { value: "EXECUTING" })
    assert.deepStrictEqual(Mapping.toStageId("WON"), { value: "WON" })
    assert.deepStrictEqual(Mapping.toStageId("lost "), { value: "LOSE" })
    const unknown = Mapping.toStageId("on_hold")
    assert.strictEqual(unknown.value, "NEW")
    assert.include(unknown.note, "on_hold")
    assert.strictEqual(Mapping.toStageId(null, "PREPARATION").value, "PREPARATION")

    assert.deepStrictEqual(Mapping.normalizeCurrency("eur"), { value: "EUR" })
    assert.deepStrictEqual(Mapping.normalizeCurrency("USD"), { value: "USD" })
    assert.strictEqual(Mapping.normalizeCurrency("RUR").value, "RUB")
    assert.include(Mapping.normalizeCurrency("RUR").note, "RUR")
    assert.strictEqual(Mapping.normalizeCurrency("€  ").value, "EUR")
    const btc = Mapping.normalizeCurrency("BTC", "USD")
    assert.strictEqual(btc.value, "USD")
    assert.include(btc.note, "unknown currency")
    assert.strictEqual(Mapping.normalizeCurrency(null).value, "EUR")
    assert.include(Mapping.normalizeCurrency(null).note, "no currency")

    assert.strictEqual(Mapping.ownerToUser({ bitrix_user_id: 7 }), 7)
    assert.strictEqual(Mapping.ownerToUser({ bitrix_user_id: null }), 1)
    assert.strictEqual(Mapping.ownerToUser(undefined), 1)
    assert.strictEqual(Mapping.ownerToUser(null, 5), 5)
  })
})
