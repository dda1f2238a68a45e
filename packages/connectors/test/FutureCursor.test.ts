/**
 * A far-future cursor (`9999-12-31`, or PostgreSQL's `infinity`) in a real table: the row is
 * written, the checkpoint stays before it, a later change to another row is read and written by
 * the next run, and each run's report warns about the row by its key.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import * as Runner from "@b24etl/core/Runner"
import { StateStore } from "@b24etl/core/StateStore"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer, type Scope } from "effect"
import { sql } from "kysely"
import { afterAll } from "vitest"
import * as MemorySink from "../../core/test/fixtures/MemorySink.js"
import * as Mysql from "../src/Mysql.js"
import * as Postgres from "../src/Postgres.js"
import * as Databases from "./support/databases.js"

const stateDir = mkdtempSync(join(tmpdir(), "b24etl-future-cursor-"))
afterAll(() => rmSync(stateDir, { recursive: true, force: true }))
const state = Layer.merge(Layer.orDie(StateStoreSql.layerEmbedded(stateDir)), Progress.silent)

interface Engine {
  readonly name: string
  readonly admin: Effect.Effect<Databases.Admin, never, Scope.Scope>
  readonly type: string
  /** Far-future values the engine's column holds, by key (from 3 on). */
  readonly future: ReadonlyArray<string>
  readonly source: () => Postgres.PostgresSource | Mysql.MysqlSource
}

const engines: ReadonlyArray<Engine> = [
  {
    name: "PostgreSQL",
    admin: Databases.postgres("b24etl_life13_future_pg"),
    type: "timestamptz",
    future: ["9999-12-31", "infinity"],
    source: () => Postgres.source({ url: Databases.pgUrl("b24etl_life13_future_pg") }),
  },
  {
    name: "MariaDB",
    admin: Databases.mysql("b24etl_life13_future_my"),
    type: "datetime(6)",
    future: ["9999-12-31"],
    source: () => Mysql.source({ url: Databases.mysqlUrl("b24etl_life13_future_my") }),
  },
]

let pipelineNo = 0

for (const engine of engines) {
  describe(`a far-future cursor in ${engine.name}`, () => {
    layer(state, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.scoped(
        "is written and warned about; the checkpoint stays before it, so a later change is read",
        () =>
          Effect.gen(function* () {
            const admin = yield* engine.admin
            yield* Databases.exec(
              admin,
              sql`CREATE TABLE companies (id int PRIMARY KEY, name varchar(100) NOT NULL, updated_at ${sql.raw(engine.type)} NOT NULL)`,
              sql`INSERT INTO companies VALUES (1, 'One', '2020-01-01 00:00:00'), (2, 'Two', '2020-01-02 00:00:00')`,
              ...engine.future.map(
                (value, i) => sql`INSERT INTO companies VALUES (${3 + i}, ${`Far ${3 + i}`}, ${value})`,
              ),
            )
            const futureKeys = engine.future.map((_, i) => String(3 + i))
            const legacy = engine.source()
            const target = MemorySink.make()
            const pipeline = Pipeline.make({
              name: `future-${engine.name}-${++pipelineNo}`,
              sink: target.sink,
              entities: {
                company: {
                  from: legacy.table("companies", { key: "id", cursor: "updated_at" }),
                  to: target.target("company"),
                  map: (r: { name: string }) => ({ title: r.name }),
                },
              },
            })
            const first = yield* Runner.run(pipeline)
            assert.strictEqual(first.status, "succeeded", first.error)
            assert.strictEqual(first.entities[0]!.created, 2 + futureKeys.length)
            assert.deepStrictEqual(
              first.warnings?.map((w) => w.keys),
              [futureKeys],
            )
            assert.include(
              first.warnings![0]!.message,
              `key${futureKeys.length > 1 ? "s" : ""} ${futureKeys.join(", ")}`,
            )

            yield* Databases.exec(
              admin,
              engine.name === "PostgreSQL"
                ? sql`UPDATE companies SET name = 'One (edited)', updated_at = now() WHERE id = 1`
                : sql`UPDATE companies SET name = 'One (edited)', updated_at = utc_timestamp(6) WHERE id = 1`,
            )
            const second = yield* Runner.run(pipeline)
            assert.strictEqual(second.status, "succeeded", second.error)
            // The change, and the future rows again (unchanged, so not written).
            assert.deepStrictEqual(
              [second.entities[0]!.read, second.entities[0]!.updated, second.entities[0]!.unchanged],
              [1 + futureKeys.length, 1, futureKeys.length],
            )
            assert.deepStrictEqual(
              second.warnings?.map((w) => w.keys),
              [futureKeys],
            )
            const one = [...target.items("company").values()].find((i) => i.originId === "company:1")!
            assert.strictEqual(one.fields.title, "One (edited)")

            // A checkpoint an earlier version moved into the future is not trusted: the entity is read again.
            const store = yield* StateStore
            yield* store.commit({
              pipeline: pipeline.name,
              entity: "company",
              created: [],
              checkpoint: { cursor: "9999-12-31T00:00:00Z", key: [3] },
            })
            yield* Databases.exec(admin, sql`UPDATE companies SET name = 'Two (edited)' WHERE id = 2`)
            const third = yield* Runner.run(pipeline)
            assert.strictEqual(third.entities[0]!.updated, 1)
            const two = [...target.items("company").values()].find((i) => i.originId === "company:2")!
            assert.strictEqual(two.fields.title, "Two (edited)")
          }),
      )
    })
  })
}
