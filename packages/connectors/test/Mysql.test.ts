import { assert, describe, it } from "@effect/vitest"
import { Chunk, Config, ConfigProvider, Effect, Layer, Stream } from "effect"
import { sql } from "kysely"
import * as Mysql from "../src/Mysql.js"
import type * as SqlSpec from "../src/SqlSpec.js"
import { contract } from "./support/contract.js"
import * as Databases from "./support/databases.js"
import { sideTables } from "./support/sideTables.js"

const database = "b24etl_conn_mysql"
const url = Databases.mysqlUrl(database)

contract({
  name: "MariaDB",
  admin: Databases.mysql(database),
  source: (options) => Mysql.source({ url, ...options }),
  types: { timestamp: "datetime(6)", text: "text", key: "varchar(32)" },
  timestamp: (iso) => iso.replace("T", " ").replace("Z", ""),
  sessions: (admin) =>
    Databases.rows<{ n: unknown }>(
      admin,
      sql`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()`,
    ).pipe(Effect.map((rows) => Number(rows[0]!.n))),
})

sideTables({
  name: "MariaDB",
  admin: Databases.mysql(`${database}_side`),
  source: () => Mysql.source({ url: Databases.mysqlUrl(`${database}_side`) }),
  emails:
    "GROUP_CONCAT(CASE WHEN r.deleted = 0 THEN e.email_address END ORDER BY e.email_address SEPARATOR ',')",
  timestamp: (iso) => iso.replace("T", " ").replace(/\.\d+Z$/, ""),
})

describe("Mysql values and configuration", () => {
  const values = Layer.scopedDiscard(
    Effect.gen(function* () {
      const admin = yield* Databases.mysql(`${database}_values`)
      yield* Databases.exec(
        admin,
        sql`CREATE TABLE \`values\` (id bigint PRIMARY KEY, amount decimal(40, 10), n int, f double, flag tinyint(1),
          small tinyint, bit1 bit(1), at_ts timestamp(6) NULL, at_dt datetime(3), day date, doc json, file blob, bin varbinary(8),
          label varchar(20))`,
        sql`INSERT INTO \`values\` VALUES (9223372036854775807, 123456789012345678901234567890.0123456789, 42, 1.5, 1, 7, b'1',
          '2024-05-01 08:00:00.123456', '2024-05-01 10:00:00.654', '2024-02-29', '{"a": [1, "x", null], "b": {"c": true}}',
          X'00ff10', X'0102', 'ünïcode ✓')`,
        sql`INSERT INTO \`values\` (id) VALUES (1)`,
        // Legacy MySQL data often holds the zero date, written back when strict mode was off.
        sql`SET SESSION sql_mode = ''`,
        sql`CREATE TABLE zero_dates (id int PRIMARY KEY, at_dt datetime, at_ts timestamp NULL, day date)`,
        sql`INSERT INTO zero_dates VALUES (1, '0000-00-00 00:00:00', '0000-00-00 00:00:00', '2024-01-31'),
          (2, '1999-12-31 23:59:59', '2038-01-19 03:14:07', '0000-00-00')`,
      )
    }),
  )

  it.layer(values)((it) => {
    it.scoped("maps bigint, decimal, tinyint(1), dates, JSON and binary predictably", () =>
      Effect.gen(function* () {
        const legacy = Mysql.source({ url: Databases.mysqlUrl(`${database}_values`) })
        const connection = yield* legacy.connect
        const records = Chunk.toReadonlyArray(
          yield* Stream.runCollect(
            connection.read(legacy.table("values", { key: "id" }).spec as SqlSpec.Spec, {}),
          ),
        )
        assert.strictEqual(records.length, 2)
        const empty = records[0]!.data
        assert.strictEqual(empty.id, 1n)
        assert.isNull(empty.amount)
        assert.isNull(empty.flag)
        assert.isNull(empty.at_dt)
        const row = records[1]!.data
        assert.strictEqual(records[1]!.key, "9223372036854775807")
        assert.strictEqual(row.id, 9223372036854775807n)
        assert.strictEqual(row.amount, "123456789012345678901234567890.0123456789")
        assert.strictEqual(row.n, 42)
        assert.strictEqual(row.f, 1.5)
        assert.strictEqual(row.flag, true)
        assert.strictEqual(row.small, 7)
        assert.strictEqual(row.bit1, true)
        assert.deepStrictEqual(row.at_ts, new Date("2024-05-01T08:00:00.123Z"))
        assert.deepStrictEqual(row.at_dt, new Date("2024-05-01T10:00:00.654Z"))
        assert.strictEqual(row.day, "2024-02-29")
        assert.deepStrictEqual(row.doc, { a: [1, "x", null], b: { c: true } })
        assert.strictEqual(row.file, Buffer.from([0, 255, 16]).toString("base64"))
        assert.strictEqual(row.bin, Buffer.from([1, 2]).toString("base64"))
        assert.strictEqual(row.label, "ünïcode ✓")
      }),
    )

    it.scoped("reads the zero date as null, and other DATETIME and TIMESTAMP values as UTC Dates", () =>
      Effect.gen(function* () {
        const legacy = Mysql.source({ url: Databases.mysqlUrl(`${database}_values`) })
        const connection = yield* legacy.connect
        const records = Chunk.toReadonlyArray(
          yield* Stream.runCollect(
            connection.read(legacy.table("zero_dates", { key: "id" }).spec as SqlSpec.Spec, {}),
          ),
        )
        assert.deepStrictEqual(
          records.map((r) => r.data),
          [
            { id: 1, at_dt: null, at_ts: null, day: "2024-01-31" },
            {
              id: 2,
              at_dt: new Date("1999-12-31T23:59:59Z"),
              at_ts: new Date("2038-01-19T03:14:07Z"),
              day: null,
            },
          ],
        )
      }),
    )

    it.scoped("reads the URL from Config and hides the password in errors", () =>
      Effect.gen(function* () {
        const legacy = Mysql.source({ url: Config.redacted("LEGACY_DATABASE_URL"), name: "legacy" })
        const error = yield* Effect.flip(
          legacy.connect.pipe(
            Effect.withConfigProvider(
              ConfigProvider.fromMap(
                new Map([["LEGACY_DATABASE_URL", "mysql://bob:s3cr3t-pw@127.0.0.1:3306/db"]]),
              ),
            ),
          ),
        )
        assert.strictEqual(error._tag, "SourceError")
        assert.include(error.message, "mysql://bob:***@127.0.0.1:3306/db")
        assert.notInclude(error.message, "s3cr3t-pw")
        assert.notInclude(JSON.stringify(error), "s3cr3t-pw")
      }),
    )

    it.scoped("layer and layerConfig provide a connected, read-only client", () =>
      Effect.gen(function* () {
        const client = yield* Mysql.Mysql
        const result = yield* Effect.promise(() =>
          sql<{ ro: number }>`SELECT @@session.tx_read_only AS ro`.execute(client.db),
        )
        assert.strictEqual(Number(result.rows[0]!.ro), 1)
      }).pipe(
        Effect.provide(
          Mysql.layerConfig({ url: Config.redacted("MYSQL_URL") }).pipe(
            Layer.provide(
              Layer.setConfigProvider(
                ConfigProvider.fromMap(new Map([["MYSQL_URL", Databases.mysqlUrl(`${database}_values`)]])),
              ),
            ),
          ),
        ),
      ),
    )
  })
})
