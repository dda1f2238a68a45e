/**
 * Where a connected source is, for the pipeline's binding: host, port and database for SQL
 * sources (never the user or password), the origin for REST, and what an embedded database's URL
 * effect says instead of its free port.
 */
import * as Mysql from "@b24etl/connectors/Mysql"
import * as Postgres from "@b24etl/connectors/Postgres"
import * as Rest from "@b24etl/connectors/Rest"
import * as Sql from "@b24etl/connectors/Sql"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { mysqlUrl, pgUrl } from "./support/databases.js"

describe("source location", () => {
  it.scopedLive("PostgreSQL and MySQL: host, port and database, without the user", () =>
    Effect.gen(function* () {
      const pg = yield* Postgres.source({ url: Redacted.make(pgUrl("postgres")) }).connect
      assert.strictEqual(pg.location, "127.0.0.1:5432/postgres")
      const my = yield* Mysql.source({ url: mysqlUrl("test") }).connect
      assert.strictEqual(my.location, "127.0.0.1:3306/test")
    }),
  )

  it.scopedLive("Sql: from the URL, or the location an embedded database's URL effect gives", () =>
    Effect.gen(function* () {
      const byUrl = yield* Sql.source({ url: pgUrl("postgres") }).connect
      assert.strictEqual(byUrl.location, "127.0.0.1:5432/postgres")
      const located: Sql.Located = {
        url: pgUrl("postgres"),
        location: "embedded demo database .pipeline/legacy",
      }
      const embedded = yield* Sql.source({ url: Effect.succeed(located) }).connect
      assert.strictEqual(embedded.location, "embedded demo database .pipeline/legacy")
    }),
  )

  it.scopedLive("REST: the base URL's origin, without path, query or credentials", () =>
    Effect.gen(function* () {
      const api = yield* Rest.source({ baseUrl: "https://user:secret@crm.example.com/api/v2/?token=t" })
        .connect
      assert.strictEqual(api.location, "https://crm.example.com")
    }),
  )
})
