import type * as Source from "@b24etl/core/Source"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Effect, Fiber, Layer, type Scope, Stream, TestServices } from "effect"
import { sql } from "kysely"
import type * as SqlDriver from "../../src/internal/sqlDriver.js"
import type * as SqlSpec from "../../src/SqlSpec.js"
import { type Admin, exec, rows } from "./databases.js"

/**
 * The source contract, one suite run against every SQL engine: keys in order, resume from a
 * position, no gap or repeat at chunk boundaries when cursor values are equal, NULLs, unicode,
 * compound keys, big integers, counts, names refused before any SQL runs, read-only sessions,
 * pools closed on interrupt.
 */
export interface Engine {
  readonly name: string
  /** A fresh database with a writable connection; dropped when the scope closes. */
  readonly admin: Effect.Effect<Admin, never, Scope.Scope>
  readonly source: (options: {
    readonly chunkSize?: number
    readonly pageSize?: number
    readonly name?: string
  }) => SqlDriver.SqlSource
  readonly types: { readonly timestamp: string; readonly text: string; readonly key: string }
  /** A timestamp (ISO, UTC) as an insert parameter. */
  readonly timestamp: (iso: string) => unknown
  /** Open connections of the source named `name`. */
  readonly sessions: (admin: Admin, name: string) => Effect.Effect<number>
}

class AdminDb extends Context.Tag("test/AdminDb")<AdminDb, Admin>() {}

const times = [
  "2024-01-01T00:00:00.000001Z",
  "2024-01-01T00:00:00.000002Z",
  "2024-06-30T23:59:59.999999Z",
  "2025-01-01T12:00:00.500000Z",
  "2025-01-01T12:00:00.500001Z",
  "2025-01-02T00:00:00.000000Z",
]
const unicode = ["Zoë", "Ünïcödé ✓", "日本語のテキスト", "🚀 emoji 👩‍👩‍👧", "Ελληνικά"]
const insertOrder = [7, 3, 19, 1, 20, 12, 5, 14, 9, 2, 16, 11, 18, 4, 8, 13, 6, 17, 10, 15]
const nullCursor = new Set([5, 12])
const cursorOf = (id: number) => (nullCursor.has(id) ? null : times[id % times.length]!)
const noteOf = (id: number) => (id % 3 === 0 ? null : `note ${id}`)
const nameOf = (id: number) => `item ${id} ${unicode[id % unicode.length]}`

/** Microseconds since the epoch of an ISO text, to compare timestamps beyond milliseconds. */
const micros = (iso: string): bigint => {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso)
  if (!m) throw new Error(`not an ISO UTC timestamp: ${iso}`)
  return BigInt(Date.parse(`${m[1]}Z`)) * 1000n + BigInt((m[2] ?? "").padEnd(6, "0").slice(0, 6))
}

const expectedIncremental = () => {
  const ids = Array.from({ length: 20 }, (_, i) => i + 1)
  const nulls = ids.filter((id) => nullCursor.has(id))
  const values = ids
    .filter((id) => !nullCursor.has(id))
    .sort((a, b) => times.indexOf(cursorOf(a)!) - times.indexOf(cursorOf(b)!) || a - b)
  return [...nulls, ...values]
}

const regions = ["us", "eu", "apac"]
const bigIds = [9007199254740993n, 9007199254740992n, 9223372036854775807n, 1n, 9007199254740994n]
const tags = ["a", "B", "é", "日本", "Ω", "🚀", "z", "Zebra", "ä", "ñandú", "Ж", "1"]

const setup = (engine: Engine) =>
  Layer.scoped(
    AdminDb,
    Effect.gen(function* () {
      const admin = yield* engine.admin
      const t = engine.types
      yield* exec(
        admin,
        sql`CREATE TABLE items (id integer PRIMARY KEY, name ${sql.raw(t.text)} NOT NULL, note ${sql.raw(t.text)}, updated_at ${sql.raw(t.timestamp)})`,
        sql`CREATE TABLE accounts (region ${sql.raw(t.key)} NOT NULL, id integer NOT NULL, updated_at ${sql.raw(t.timestamp)} NOT NULL, PRIMARY KEY (region, id))`,
        sql`CREATE TABLE bigkeys (id bigint PRIMARY KEY, version integer NOT NULL)`,
        sql`CREATE TABLE tags (code ${sql.raw(t.key)} PRIMARY KEY)`,
      )
      for (const id of insertOrder) {
        const cursor = cursorOf(id)
        yield* exec(
          admin,
          sql`INSERT INTO items (id, name, note, updated_at) VALUES (${id}, ${nameOf(id)}, ${noteOf(id)}, ${cursor === null ? null : engine.timestamp(cursor)})`,
        )
      }
      for (const [i, region] of regions.entries())
        for (const id of [4, 1, 3, 2])
          yield* exec(
            admin,
            sql`INSERT INTO accounts (region, id, updated_at) VALUES (${region}, ${id}, ${engine.timestamp(times[(i + id) % 2]!)})`,
          )
      for (const id of bigIds)
        yield* exec(admin, sql`INSERT INTO bigkeys (id, version) VALUES (${id.toString()}, 1)`)
      for (const code of tags) yield* exec(admin, sql`INSERT INTO tags (code) VALUES (${code})`)
      return admin
    }),
  )

const idsOf = (records: ReadonlyArray<Source.SourceRecord>) => records.map((r) => Number(r.data.id))

/** Reads a stream to the end through a connection. */
const readAll = (
  connection: Source.Connection<SqlSpec.Spec>,
  stream: Source.SourceStream,
  request: Source.ReadRequest = {},
) =>
  Stream.runCollect(connection.read(stream.spec as SqlSpec.Spec, request)).pipe(
    Effect.map(Chunk.toReadonlyArray),
  )

const roundTrip = <A>(a: A): A => JSON.parse(JSON.stringify(a))

export const contract = (engine: Engine) =>
  describe(`source contract on ${engine.name}`, () => {
    it.layer(setup(engine), { timeout: 60_000 })((it) => {
      const connect = (chunkSize = 3, name?: string) => {
        const source = engine.source(
          name === undefined ? { chunkSize, pageSize: chunkSize } : { chunkSize, pageSize: chunkSize, name },
        )
        return Effect.map(source.connect, (connection) => ({ source, connection }))
      }

      it.scoped(`${engine.name}: reads a table in key order, chunk after chunk`, () =>
        Effect.gen(function* () {
          const { source, connection } = yield* connect(3)
          const records = yield* readAll(connection, source.table("items", { key: "id" }))
          assert.deepStrictEqual(
            idsOf(records),
            Array.from({ length: 20 }, (_, i) => i + 1),
          )
          assert.deepStrictEqual(
            records.map((r) => r.key),
            records.map((r) => String(r.data.id)),
          )
          assert.isTrue(records.every((r) => r.position === undefined))
        }),
      )

      it.scoped(
        `${engine.name}: reads by cursor then key, NULL cursors first, no gap or repeat at chunk boundaries`,
        () =>
          Effect.gen(function* () {
            const { source, connection } = yield* connect(3)
            const expected = expectedIncremental()
            for (const chunkSize of [1, 2, 3, 7, 1000]) {
              const records = yield* readAll(
                connection,
                source.table("items", { key: "id", cursor: "updated_at", chunkSize, pageSize: chunkSize }),
              )
              assert.deepStrictEqual(idsOf(records), expected, `chunkSize ${chunkSize}`)
            }
            const records = yield* readAll(
              connection,
              source.table("items", { key: "id", cursor: "updated_at" }),
            )
            for (const r of records) {
              const id = Number(r.data.id)
              const position = r.position as { cursor: string | null; key: ReadonlyArray<unknown> }
              assert.deepStrictEqual(position.key, [id])
              const cursor = cursorOf(id)
              if (cursor === null) {
                assert.isNull(position.cursor)
                assert.isNull(r.data.updated_at)
              } else {
                assert.strictEqual(micros(position.cursor!), micros(cursor), `cursor of ${id}`)
                assert.instanceOf(r.data.updated_at, Date)
                assert.strictEqual((r.data.updated_at as Date).getTime(), Date.parse(cursor))
              }
            }
          }),
      )

      it.scoped(`${engine.name}: resumes strictly after any position, also NULL-cursor ones`, () =>
        Effect.gen(function* () {
          const { source, connection } = yield* connect(3)
          const stream = source.table("items", { key: "id", cursor: "updated_at" })
          const all = yield* readAll(connection, stream)
          const expected = expectedIncremental()
          for (let i = 0; i < all.length; i++) {
            const after = roundTrip(all[i]!.position)
            const rest = yield* readAll(connection, stream, { after })
            assert.deepStrictEqual(idsOf(rest), expected.slice(i + 1), `after ${JSON.stringify(after)}`)
            assert.strictEqual(
              yield* connection.count!(stream.spec as SqlSpec.Spec, { after }),
              expected.length - i - 1,
            )
          }
        }),
      )

      it.scoped(`${engine.name}: NULLs, unicode and types come back as they were stored`, () =>
        Effect.gen(function* () {
          const { source, connection } = yield* connect(4)
          const records = yield* readAll(connection, source.table("items", { key: "id" }))
          for (const r of records) {
            const id = Number(r.data.id)
            assert.strictEqual(r.data.name, nameOf(id))
            assert.strictEqual(r.data.note, noteOf(id))
            assert.strictEqual(typeof r.data.id, "number")
          }
          const codes = yield* readAll(
            connection,
            source.table("tags", { key: "code", chunkSize: 2, pageSize: 2 }),
          )
          const order = yield* rows<{ code: string }>(
            yield* AdminDb,
            sql`SELECT code FROM tags ORDER BY code`,
          )
          assert.deepStrictEqual(
            codes.map((r) => r.key),
            order.map((r) => r.code),
          )
          assert.sameMembers(
            codes.map((r) => r.data.code),
            tags,
          )
        }),
      )

      it.scoped(`${engine.name}: compound keys page and resume across equal cursor values`, () =>
        Effect.gen(function* () {
          const { source, connection } = yield* connect(2)
          const keyed = yield* readAll(connection, source.table("accounts", { key: ["region", "id"] }))
          const expectedKeys = ["apac", "eu", "us"].flatMap((region) =>
            [1, 2, 3, 4].map((id) => [region, id] as const),
          )
          assert.deepStrictEqual(
            keyed.map((r) => r.key),
            expectedKeys.map(([region, id]) => JSON.stringify([region, String(id)])),
          )
          const stream = source.table("accounts", {
            key: ["region", "id"],
            cursor: "updated_at",
            chunkSize: 3,
          })
          const all = yield* readAll(connection, stream)
          const timeOf = (region: string, id: number) => times[(regions.indexOf(region) + id) % 2]!
          const expected = [...expectedKeys]
            .sort(
              ([ra, ia], [rb, ib]) =>
                Date.parse(timeOf(ra, ia)) - Date.parse(timeOf(rb, ib)) ||
                Number(micros(timeOf(ra, ia)) - micros(timeOf(rb, ib))) ||
                0,
            )
            .map(([region, id]) => JSON.stringify([region, String(id)]))
          assert.deepStrictEqual(
            all.map((r) => r.key),
            expected,
          )
          for (let i = 0; i < all.length; i++) {
            const rest = yield* readAll(connection, stream, { after: roundTrip(all[i]!.position) })
            assert.deepStrictEqual(
              rest.map((r) => r.key),
              expected.slice(i + 1),
            )
          }
        }),
      )

      it.scoped(`${engine.name}: bigint keys beyond 2^53 keep their precision and resume exactly`, () =>
        Effect.gen(function* () {
          const { source, connection } = yield* connect(2)
          const stream = source.table("bigkeys", { key: "id", cursor: "version" })
          const all = yield* readAll(connection, stream)
          const sorted = [...bigIds].sort((a, b) => (a < b ? -1 : 1))
          assert.deepStrictEqual(
            all.map((r) => r.data.id),
            sorted,
          )
          assert.deepStrictEqual(
            all.map((r) => r.key),
            sorted.map(String),
          )
          for (let i = 0; i < all.length; i++) {
            const rest = yield* readAll(connection, stream, { after: roundTrip(all[i]!.position) })
            assert.deepStrictEqual(
              rest.map((r) => r.data.id),
              sorted.slice(i + 1),
            )
          }
        }),
      )

      it.scoped(`${engine.name}: counts, limits, columns, where filters and queries`, () =>
        Effect.gen(function* () {
          const { source, connection } = yield* connect(3)
          const items = source.table("items", { key: "id" })
          assert.strictEqual(yield* connection.count!(items.spec as SqlSpec.Spec, {}), 20)
          assert.strictEqual(yield* connection.count!(items.spec as SqlSpec.Spec, { limit: 5 }), 5)
          assert.deepStrictEqual(
            idsOf(yield* readAll(connection, items, { limit: 7 })),
            [1, 2, 3, 4, 5, 6, 7],
          )

          const narrow = yield* readAll(
            connection,
            source.table("items", { key: "id", columns: ["name"], where: { note: null } }),
          )
          assert.deepStrictEqual(idsOf(narrow), [3, 6, 9, 12, 15, 18])
          assert.deepStrictEqual(Object.keys(narrow[0]!.data).sort(), ["id", "name"])

          const some = yield* readAll(
            connection,
            source.table("items", { key: "id", where: { id: [2, 4, 19] } }),
          )
          assert.deepStrictEqual(idsOf(some), [2, 4, 19])
          const none = yield* readAll(connection, source.table("items", { key: "id", where: { id: [] } }))
          assert.deepStrictEqual(none, [])
          const template = yield* readAll(
            connection,
            source.table("items", { key: "id", where: sql`id > ${17}` }),
          )
          assert.deepStrictEqual(idsOf(template), [18, 19, 20])

          const query = source.query("SELECT id, name, updated_at FROM items WHERE id > 3", {
            key: "id",
            cursor: "updated_at",
          })
          const fromQuery = yield* readAll(connection, query)
          assert.deepStrictEqual(
            idsOf(fromQuery),
            expectedIncremental().filter((id) => id > 3),
          )
          const rest = yield* readAll(connection, query, { after: roundTrip(fromQuery[4]!.position) })
          assert.deepStrictEqual(idsOf(rest), idsOf(fromQuery).slice(5))
          assert.strictEqual(yield* connection.count!(query.spec as SqlSpec.Spec, {}), 17)
          yield* connection.check(query.spec as SqlSpec.Spec)
          yield* connection.check(items.spec as SqlSpec.Spec)
        }),
      )

      it.scoped(`${engine.name}: a name that is not a plain identifier fails clearly and runs nothing`, () =>
        Effect.gen(function* () {
          const { source, connection } = yield* connect(3)
          const attempts: ReadonlyArray<readonly [Source.SourceStream, string]> = [
            [source.table("items; DROP TABLE items", { key: "id" }), "items; DROP TABLE items"],
            [source.table("items", { key: "id) OR 1=1 --" }), "id) OR 1=1 --"],
            [source.table("items", { key: "id", cursor: 'updated_at"; DROP TABLE items; --' }), "DROP TABLE"],
            [source.table("items", { key: "id", columns: ["name`, (SELECT 1)"] }), "SELECT 1"],
            [source.table("items", { key: "id", where: { "1=1 OR id": 1 } }), "1=1 OR id"],
            [source.table("public.items.x", { key: "id" }), "public.items.x"],
          ]
          for (const [stream, name] of attempts) {
            const spec = stream.spec as SqlSpec.Spec
            for (const run of [
              connection.check(spec),
              Effect.asVoid(readAll(connection, stream)),
              Effect.asVoid(connection.count!(spec, {})),
            ]) {
              const error = yield* Effect.flip(run)
              assert.strictEqual(error._tag, "SourceError")
              assert.include(error.message, name)
              assert.include(error.message, "nothing was run")
            }
          }
          const left = yield* rows<{ n: unknown }>(yield* AdminDb, sql`SELECT COUNT(*) AS n FROM items`)
          assert.strictEqual(Number(left[0]!.n), 20)

          const missing = yield* Effect.flip(
            connection.check(source.table("no_such_table", { key: "id" }).spec as SqlSpec.Spec),
          )
          assert.include(missing.message, "no_such_table")
        }),
      )

      it.scoped(`${engine.name}: sessions are read-only`, () =>
        Effect.gen(function* () {
          const { source, connection } = yield* connect(3)
          const db = (connection as unknown as { readonly db: Admin }).db
          void source
          const write = yield* Effect.flip(
            Effect.tryPromise({
              try: () => sql`INSERT INTO tags (code) VALUES ('written')`.execute(db),
              catch: (cause) => cause,
            }),
          )
          assert.match(String(write), /read.only|READ ONLY/i)
          const left = yield* rows(yield* AdminDb, sql`SELECT code FROM tags WHERE code = 'written'`)
          assert.strictEqual(left.length, 0)
        }),
      )

      it.effect(`${engine.name}: the pool closes when a read is interrupted`, () =>
        TestServices.provideLive(
          Effect.gen(function* () {
            const admin = yield* AdminDb
            const name = `interrupt-${engine.name.toLowerCase()}`
            const seen = yield* Effect.scoped(
              Effect.gen(function* () {
                const { source, connection } = yield* connect(1, name)
                const fiber = yield* connection
                  .read(source.table("items", { key: "id" }).spec as SqlSpec.Spec, {})
                  .pipe(
                    Stream.tap(() => Effect.sleep("20 millis")),
                    Stream.runDrain,
                    Effect.fork,
                  )
                let open = yield* engine.sessions(admin, name)
                for (let i = 0; i < 100 && open === 0; i++) {
                  yield* Effect.sleep("50 millis")
                  open = yield* engine.sessions(admin, name)
                }
                yield* Fiber.interrupt(fiber)
                return open
              }),
            )
            assert.isAbove(seen, 0)
            let left = yield* engine.sessions(admin, name)
            for (let i = 0; i < 40 && left > 0; i++) {
              yield* Effect.sleep("50 millis")
              left = yield* engine.sessions(admin, name)
            }
            assert.strictEqual(left, 0)
          }),
        ),
      )
    })
  })
