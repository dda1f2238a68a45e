/**
 * `ping`, the pre-flight request every source answers before a run reads: SQL `SELECT 1` on real
 * PostgreSQL and MariaDB, one GET for REST. A closed port or a server that accepts and never
 * answers fails within seconds (pg `connectionTimeoutMillis`, mysql2 `connectTimeout`, the REST
 * ping's own timeout), naming the host and never the password.
 */
import type * as Source from "@b24etl/core/Source"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as Memory from "../src/Memory.js"
import * as Mysql from "../src/Mysql.js"
import * as Postgres from "../src/Postgres.js"
import * as Rest from "../src/Rest.js"
import * as RestAuth from "../src/RestAuth.js"
import { serve } from "./support/server.js"
import { closedPort, silentServer } from "./support/unreachable.js"

/** Connects and pings; answers the failure's message (or undefined) and the time taken. */
const pinged = <S>(source: Source.Source<S>) =>
  Effect.gen(function* () {
    const started = Date.now()
    const exit = yield* Effect.exit(
      Effect.scoped(Effect.flatMap(source.connect, (c) => c.ping ?? Effect.void)),
    )
    const ms = Date.now() - started
    if (Exit.isSuccess(exit)) return { message: undefined, ms }
    const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    assert.strictEqual(failure?._tag, "SourceError", String(exit.cause))
    return { message: failure!.message, ms }
  })

describe("ping: the pre-flight request of every source", () => {
  it.live("PostgreSQL and MariaDB answer SELECT 1", () =>
    Effect.gen(function* () {
      assert.isUndefined(
        (yield* pinged(Postgres.source({ url: "postgres://postgres@127.0.0.1:5432/postgres" }))).message,
      )
      assert.isUndefined((yield* pinged(Mysql.source({ url: "mysql://root@127.0.0.1:3306/test" }))).message)
      assert.isUndefined((yield* pinged(Memory.source("mem", {}))).message)
    }),
  )

  it.live(
    "a closed port and a silent server fail within seconds, naming the host, never the password",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const port = yield* closedPort
          const silent = yield* silentServer
          for (const [source, where] of [
            [Postgres.source({ name: "pg", url: `postgres://u:pgsecret@127.0.0.1:${port}/crm` }), port],
            [Mysql.source({ name: "my", url: `mysql://u:mysecret@127.0.0.1:${port}/crm` }), port],
            [
              Postgres.source({ name: "pg", url: `postgres://u:pgsecret@127.0.0.1:${silent.port}/crm` }),
              silent.port,
            ],
            [
              Mysql.source({ name: "my", url: `mysql://u:mysecret@127.0.0.1:${silent.port}/crm` }),
              silent.port,
            ],
          ] as const) {
            const { message, ms } = yield* pinged(source as Source.Source<unknown>)
            assert.isDefined(message, `port ${where} answered`)
            assert.include(message!, `127.0.0.1:${where}/crm`)
            assert.notInclude(message!, "secret")
            // 5 s to open a session; the silent server is the slow case.
            assert.isBelow(ms, 9_000, message)
          }
        }),
      ),
    60_000,
  )

  it.live(
    "REST: any answer but 401/403 is reachable; refused credentials and a closed port fail",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* serve((req) =>
            req.url.pathname === "/locked/"
              ? { status: 401, body: { error: "unauthorized" } }
              : { status: 404, body: { error: "no such page" } },
          )
          const open = Rest.source({ baseUrl: `${server.url}/api`, auth: RestAuth.bearer("tok3n") })
          assert.isUndefined((yield* pinged(open)).message)
          assert.strictEqual(server.requests.at(-1)!.url.pathname, "/api/")
          assert.strictEqual(server.requests.at(-1)!.headers.authorization, "Bearer tok3n")

          const health = Rest.source({ baseUrl: `${server.url}/api`, pingPath: "health" })
          assert.isUndefined((yield* pinged(health)).message)
          assert.strictEqual(server.requests.at(-1)!.url.pathname, "/api/health")

          const before = server.requests.length
          const locked = yield* pinged(
            Rest.source({ baseUrl: `${server.url}/locked`, auth: RestAuth.bearer("tok3n") }),
          )
          assert.include(locked.message!, "401 Unauthorized")
          assert.include(locked.message!, "credentials")
          assert.strictEqual(server.requests.length - before, 1, "refused credentials are not asked again")

          const port = yield* closedPort
          const closed = yield* pinged(Rest.source({ name: "crm", baseUrl: `http://127.0.0.1:${port}/api` }))
          assert.include(closed.message!, "GET /api/")
          assert.isBelow(closed.ms, 5_000)

          const silent = yield* silentServer
          const hung = yield* pinged(
            Rest.source({ name: "crm", baseUrl: `http://127.0.0.1:${silent.port}/api` }),
          )
          assert.include(hung.message!, "no answer within 5s")
          assert.isBelow(hung.ms, 13_000)
        }),
      ),
    60_000,
  )
})
