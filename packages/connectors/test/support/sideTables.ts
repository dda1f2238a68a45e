import type * as Source from "@b24etl/core/Source"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Effect, Layer, type Scope, Stream } from "effect"
import { sql } from "kysely"
import type * as SqlDriver from "../../src/internal/sqlDriver.js"
import type * as SqlSpec from "../../src/SqlSpec.js"
import { type Admin, exec } from "./databases.js"

/**
 * A change that lives in a side table: SuiteCRM keeps a contact's e-mail addresses in
 * `email_addresses`, linked through `email_addr_bean_rel`, so editing an address leaves the
 * contact's own `date_modified` alone. The cursor is the greatest of the timestamps, computed
 * over the join (a query) or by a correlated subquery (a table); both engines, keyset pages of 2.
 */
export interface Engine {
  readonly name: string
  readonly admin: Effect.Effect<Admin, never, Scope.Scope>
  readonly source: () => SqlDriver.SqlSource
  /** The addresses of a contact as one text, in order, counting only links not deleted. */
  readonly emails: string
  /** A timestamp (ISO, UTC, whole seconds) as an insert parameter. */
  readonly timestamp: (iso: string) => unknown
}

class AdminDb extends Context.Tag("test/SideTablesAdmin")<AdminDb, Admin>() {}

const t = (minute: number) => `2024-03-01T10:${String(minute).padStart(2, "0")}:00.000Z`

/** Contacts, their own modification minute, and their addresses with each address's minute. */
const contacts: ReadonlyArray<{
  readonly id: string
  readonly minute: number
  readonly emails: ReadonlyArray<readonly [string, number]>
}> = [
  { id: "c1", minute: 1, emails: [["ann@old.example", 1]] },
  { id: "c2", minute: 5, emails: [] },
  { id: "c3", minute: 2, emails: [["bob@example.com", 7]] },
  {
    id: "c4",
    minute: 3,
    emails: [
      ["cy@example.com", 3],
      ["cy@home.example", 5],
    ],
  },
  { id: "c5", minute: 5, emails: [["dee@example.com", 4]] },
  { id: "c6", minute: 9, emails: [["eve@example.com", 2]] },
]

/** The order of a first read: greatest of own and addresses' minutes, then id. */
const expectedOrder = ["c1", "c2", "c4", "c5", "c3", "c6"]

export const sideTables = (engine: Engine) =>
  describe(`a cursor over side tables on ${engine.name}`, () => {
    const setup = Layer.scoped(
      AdminDb,
      Effect.gen(function* () {
        const admin = yield* engine.admin
        yield* exec(
          admin,
          sql`CREATE TABLE contacts (id varchar(36) PRIMARY KEY, last_name varchar(100) NOT NULL, date_modified ${sql.raw(engine.name === "PostgreSQL" ? "timestamp" : "datetime")} NOT NULL, deleted smallint NOT NULL DEFAULT 0)`,
          sql`CREATE TABLE email_addresses (id varchar(36) PRIMARY KEY, email_address varchar(255) NOT NULL, date_modified ${sql.raw(engine.name === "PostgreSQL" ? "timestamp" : "datetime")} NOT NULL, deleted smallint NOT NULL DEFAULT 0)`,
          sql`CREATE TABLE email_addr_bean_rel (id varchar(36) PRIMARY KEY, email_address_id varchar(36) NOT NULL, bean_id varchar(36) NOT NULL, bean_module varchar(100) NOT NULL, date_modified ${sql.raw(engine.name === "PostgreSQL" ? "timestamp" : "datetime")} NOT NULL, deleted smallint NOT NULL DEFAULT 0)`,
        )
        for (const c of contacts) {
          yield* exec(
            admin,
            sql`INSERT INTO contacts (id, last_name, date_modified) VALUES (${c.id}, ${`Name ${c.id}`}, ${engine.timestamp(t(c.minute))})`,
          )
          for (const [i, [address, minute]] of c.emails.entries())
            yield* exec(
              admin,
              sql`INSERT INTO email_addresses (id, email_address, date_modified) VALUES (${`${c.id}-e${i}`}, ${address}, ${engine.timestamp(t(minute))})`,
              sql`INSERT INTO email_addr_bean_rel (id, email_address_id, bean_id, bean_module, date_modified) VALUES (${`${c.id}-r${i}`}, ${`${c.id}-e${i}`}, ${c.id}, 'Contacts', ${engine.timestamp(t(1))})`,
            )
        }
        return admin
      }),
    )

    const streams = (legacy: SqlDriver.SqlSource) => ({
      query: legacy.query(
        `SELECT c.id, c.last_name, c.date_modified, ${engine.emails} AS emails,
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
          pageSize: 2,
          chunkSize: 2,
        },
      ),
      table: legacy.table("contacts", {
        key: "id",
        where: { deleted: 0 },
        cursor: {
          as: "changed_at",
          sql: `GREATEST(contacts.date_modified, COALESCE((
                  SELECT max(GREATEST(r.date_modified, e.date_modified))
                  FROM email_addr_bean_rel r JOIN email_addresses e ON e.id = r.email_address_id
                  WHERE r.bean_id = contacts.id AND r.bean_module = 'Contacts'), contacts.date_modified))`,
        },
        pageSize: 2,
        chunkSize: 2,
      }),
    })

    const readAll = (legacy: SqlDriver.SqlSource, stream: Source.SourceStream, after?: unknown) =>
      Effect.flatMap(legacy.connect, (connection) =>
        Stream.runCollect(
          connection.read(stream.spec as SqlSpec.Spec, after === undefined ? {} : { after: after as never }),
        ),
      ).pipe(Effect.map(Chunk.toReadonlyArray))

    const idsOf = (records: ReadonlyArray<Source.SourceRecord>) => records.map((r) => r.key)

    it.layer(setup, { timeout: 60_000 })((it) => {
      it.scoped(`${engine.name}: a change to a side-table row alone brings its contact back`, () =>
        Effect.gen(function* () {
          const admin = yield* AdminDb
          const legacy = engine.source()
          const { query, table } = streams(legacy)
          for (const stream of [query, table]) {
            const first = yield* readAll(legacy, stream)
            assert.deepStrictEqual(idsOf(first), expectedOrder, "each contact once, by changed_at then id")
            const changedAt = first.map((r) => (r.position as { cursor: string }).cursor)
            assert.deepStrictEqual(changedAt, [...changedAt].sort(), "positions never go back")
            assert.strictEqual(Date.parse(changedAt[0]!), Date.parse(t(1)))
            assert.strictEqual(Date.parse(changedAt.at(-1)!), Date.parse(t(9)))
            // Resuming after any record reads exactly the ones after it, across pages and equal cursors.
            for (let i = 0; i < first.length; i++)
              assert.deepStrictEqual(
                idsOf(yield* readAll(legacy, stream, JSON.parse(JSON.stringify(first[i]!.position)))),
                expectedOrder.slice(i + 1),
              )
          }
          const firstByQuery = yield* readAll(legacy, query)
          assert.strictEqual(
            firstByQuery.find((r) => r.key === "c4")!.data.emails,
            "cy@example.com,cy@home.example",
          )
          assert.isNull(firstByQuery.find((r) => r.key === "c2")!.data.emails)
          const checkpoints = {
            query: firstByQuery.at(-1)!.position,
            table: (yield* readAll(legacy, table)).at(-1)!.position,
          }

          // Only the address changes; the contact row is untouched.
          yield* exec(
            admin,
            sql`UPDATE email_addresses SET email_address = 'ann@new.example', date_modified = ${engine.timestamp(t(20))} WHERE id = 'c1-e0'`,
          )
          const byQuery = yield* readAll(legacy, query, checkpoints.query)
          assert.deepStrictEqual(idsOf(byQuery), ["c1"])
          assert.strictEqual(byQuery[0]!.data.emails, "ann@new.example")
          assert.strictEqual(
            Date.parse((byQuery[0]!.position as { cursor: string }).cursor),
            Date.parse(t(20)),
          )
          const byTable = yield* readAll(legacy, table, checkpoints.table)
          assert.deepStrictEqual(idsOf(byTable), ["c1"])
          assert.strictEqual(byTable[0]!.data.last_name, "Name c1")

          // An address unlinked (a soft delete that stamps the link) brings its contact back too.
          yield* exec(
            admin,
            sql`UPDATE email_addr_bean_rel SET deleted = 1, date_modified = ${engine.timestamp(t(30))} WHERE id = 'c4-r1'`,
          )
          const unlinked = yield* readAll(legacy, query, byQuery[0]!.position)
          assert.deepStrictEqual(idsOf(unlinked), ["c4"])
          assert.strictEqual(unlinked[0]!.data.emails, "cy@example.com")
          assert.deepStrictEqual(yield* readAll(legacy, query, unlinked[0]!.position), [], "nothing more")
          const count = yield* Effect.flatMap(legacy.connect, (c) =>
            c.count!(query.spec as SqlSpec.Spec, { after: checkpoints.query }),
          )
          assert.strictEqual(count, 2)
          const badName = yield* Effect.flip(
            readAll(legacy, legacy.table("contacts", { key: "id", cursor: { as: "changed at", sql: "1" } })),
          )
          assert.include(
            badName.message,
            `cursor expression's name (as) "changed at" is not a plain identifier`,
          )
        }),
      )
    })
  })
