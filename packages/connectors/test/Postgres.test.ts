import { assert, describe, it } from "@effect/vitest"
import { Chunk, Config, ConfigProvider, Effect, Layer, Redacted, Stream } from "effect"
import { sql } from "kysely"
import * as Postgres from "../src/Postgres.js"
import type * as SqlSpec from "../src/SqlSpec.js"
import { contract } from "./support/contract.js"
import * as Databases from "./support/databases.js"
import { sideTables } from "./support/sideTables.js"

const database = "b24etl_conn_pg"
const url = Databases.pgUrl(database)

contract({
  name: "PostgreSQL",
  admin: Databases.postgres(database),
  source: (options) => Postgres.source({ url, ...options }),
  types: { timestamp: "timestamptz", text: "text", key: "text" },
  timestamp: (iso) => iso,
  sessions: (admin, name) =>
    Databases.rows<{ n: bigint | string }>(
      admin,
      sql`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = ${`b24etl:${name}`}`,
    ).pipe(Effect.map((rows) => Number(rows[0]!.n))),
})

sideTables({
  name: "PostgreSQL",
  admin: Databases.postgres(`${database}_side`),
  source: () => Postgres.source({ url: Databases.pgUrl(`${database}_side`) }),
  emails: "string_agg(CASE WHEN r.deleted = 0 THEN e.email_address END, ',' ORDER BY e.email_address)",
  timestamp: (iso) => iso.replace("T", " ").replace("Z", ""),
})

describe("Postgres values and configuration", () => {
  const values = Layer.scopedDiscard(
    Effect.gen(function* () {
      const admin = yield* Databases.postgres(`${database}_values`)
      yield* Databases.exec(
        admin,
        sql`CREATE TABLE "values" (id bigint PRIMARY KEY, amount numeric(40, 10), n int4, f float8, flag boolean,
          at_tz timestamptz, at_local timestamp(6), day date, doc jsonb, raw json, file bytea, ids bigint[], tags text[])`,
        sql`SET TIME ZONE 'Asia/Tokyo'`,
        sql`INSERT INTO "values" VALUES (9223372036854775807, 123456789012345678901234567890.0123456789, 42, 1.5, true,
          '2024-05-01 10:00:00.123456+02', '2024-05-01 10:00:00.654321', '2024-02-29', '{"a": [1, "x", null], "b": {"c": true}}',
          '{"raw": 1}', '\\x00ff10', ARRAY[1, 9007199254740993]::bigint[], ARRAY['a', 'ü'])`,
        sql`INSERT INTO "values" (id) VALUES (1)`,
      )
    }),
  )

  it.layer(values)((it) => {
    it.scoped("maps bigint, numeric, timestamps, dates, JSON and binary predictably", () =>
      Effect.gen(function* () {
        const legacy = Postgres.source({ url: Databases.pgUrl(`${database}_values`) })
        const connection = yield* legacy.connect
        const records = Chunk.toReadonlyArray(
          yield* Stream.runCollect(
            connection.read(legacy.table(`values`, { key: "id" }).spec as SqlSpec.Spec, {}),
          ),
        )
        assert.strictEqual(records.length, 2)
        const empty = records[0]!.data
        assert.strictEqual(empty.id, 1n)
        assert.isNull(empty.amount)
        assert.isNull(empty.at_tz)
        const row = records[1]!.data
        assert.strictEqual(records[1]!.key, "9223372036854775807")
        assert.strictEqual(row.id, 9223372036854775807n)
        assert.strictEqual(row.amount, "123456789012345678901234567890.0123456789")
        assert.strictEqual(row.n, 42)
        assert.strictEqual(row.f, 1.5)
        assert.strictEqual(row.flag, true)
        assert.deepStrictEqual(row.at_tz, new Date("2024-05-01T08:00:00.123Z"))
        assert.deepStrictEqual(row.at_local, new Date("2024-05-01T10:00:00.654Z"))
        assert.strictEqual(row.day, "2024-02-29")
        assert.deepStrictEqual(row.doc, { a: [1, "x", null], b: { c: true } })
        assert.deepStrictEqual(row.raw, { raw: 1 })
        assert.strictEqual(row.file, Buffer.from([0, 255, 16]).toString("base64"))
        assert.deepStrictEqual(row.ids, [1n, 9007199254740993n])
        assert.deepStrictEqual(row.tags, ["a", "ü"])
      }),
    )

    it.scoped("reads the URL from Config and hides the password in errors", () =>
      Effect.gen(function* () {
        const legacy = Postgres.source({ url: Config.redacted("LEGACY_DATABASE_URL"), name: "legacy" })
        const error = yield* Effect.flip(
          legacy.connect.pipe(
            Effect.withConfigProvider(
              ConfigProvider.fromMap(
                new Map([["LEGACY_DATABASE_URL", "postgres://bob:s3cr3t-pw@127.0.0.1:1/db"]]),
              ),
            ),
          ),
        )
        assert.strictEqual(error._tag, "SourceError")
        assert.include(error.message, "postgres://bob:***@127.0.0.1:1/db")
        assert.notInclude(error.message, "s3cr3t-pw")
        assert.notInclude(JSON.stringify(error), "s3cr3t-pw")
        const missing = yield* Effect.flip(
          legacy.connect.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))),
        )
        assert.include(missing.message, "LEGACY_DATABASE_URL")
      }),
    )

    it.scoped("layer and layerConfig provide a connected, read-only client", () =>
      Effect.gen(function* () {
        const client = yield* Postgres.Postgres
        const result = yield* Effect.promise(() =>
          sql<{ ro: string }>`SHOW transaction_read_only`.execute(client.db),
        )
        assert.strictEqual(result.rows[0]!.ro ?? Object.values(result.rows[0]!)[0], "on")
      }).pipe(
        Effect.provide(
          Postgres.layerConfig({ url: Config.redacted("PG_URL") }).pipe(
            Layer.provide(
              Layer.setConfigProvider(
                ConfigProvider.fromMap(new Map([["PG_URL", url.replace(database, "postgres")]])),
              ),
            ),
          ),
        ),
      ),
    )
  })
  void Redacted
})
