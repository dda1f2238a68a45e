/**
 * Pre-flight before reading (issue 15): before a run reads anything for writing, every source
 * answers a trivial query and the portal one cheap authenticated call (`profile`). An
 * unreachable portal (a closed port, a server that accepts and never answers), a wrong webhook
 * code (the vendor's 401 `INVALID_CREDENTIALS`, "Incorrect user ID and/or code in the request
 * path", crm.item.import.txt, which the emulator answers), and an unreachable source each end
 * the run within 15 s with what and where, no write in the portal's request log, and nothing in
 * the id map. Real PostgreSQL, the emulator over HTTP, the real `migrate-legacy` pipeline.
 */
import type * as Runner from "@b24etl/core/Runner"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { closedPort, silentServer } from "../packages/connectors/test/support/unreachable.js"
import * as StateDrivers from "../packages/core/test/fixtures/StateDrivers.js"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

/** The webhook URL with another code: `http://host/rest/1/<code>/`. */
const wrongCode = (webhookUrl: string) =>
  webhookUrl.replace(/\/rest\/(\d+)\/[^/]+\//, "/rest/$1/not-the-code/")

/** The state store in its own database; its id map and runs are read afterwards. */
const state = (name: string) =>
  Effect.map(StateDrivers.postgresDatabase(name), (db) => ({
    url: db.url,
    layer: StateStoreSql.layerFromUrl(db.url, StateDrivers.drivers),
    /** id-map rows of any status, and runs left `running`. */
    leftOver: Effect.gen(function* () {
      const idMap = yield* db
        .query("select count(*)::int as n from id_map")
        .pipe(Effect.catchAllDefect(() => Effect.succeed([{ n: 0 }])))
      const running = yield* db
        .query("select count(*)::int as n from runs where status = 'running'")
        .pipe(Effect.catchAllDefect(() => Effect.succeed([{ n: 0 }])))
      return { idMap: Number(idMap[0]?.n ?? 0), running: Number(running[0]?.n ?? 0) }
    }),
  }))

/** A run in-process that must fail: its error and how long it took. */
const failingRun = (env: Record<string, string>, stateName: string) =>
  Effect.gen(function* () {
    const store = yield* state(stateName)
    const started = Date.now()
    const error = yield* Effect.flip(Legacy.runMigrate(env).pipe(Effect.provide(store.layer)))
    const ms = Date.now() - started
    assert.strictEqual((error as Runner.RunError)._tag, "RunError", String(error))
    const left = yield* store.leftOver
    assert.deepStrictEqual(left, { idMap: 0, running: 0 }, "nothing pending, no run left running")
    return { message: (error as Runner.RunError).message, ms }
  })

describe("pre-flight: a run that cannot reach its source or portal stops within 15 s", () => {
  it.live(
    "in-process: closed portal port, silent portal, wrong webhook code, closed source port",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "preflight_e2e_legacy_a", 10)
          const portal = yield* Legacy.portal()
          const port = yield* closedPort
          const silent = yield* silentServer

          const closed = yield* failingRun(
            {
              LEGACY_DATABASE_URL: legacy.url,
              BITRIX24_WEBHOOK_URL: `http://127.0.0.1:${port}/rest/1/secretcode1/`,
            },
            "preflight_e2e_state_a1",
          )
          assert.isBelow(closed.ms, 15_000, closed.message)
          assert.include(closed.message, "did not answer the pre-flight call (ECONNREFUSED)")
          assert.include(closed.message, `127.0.0.1:${port}`)
          assert.include(closed.message, "Nothing was read or written")
          assert.notInclude(closed.message, "secretcode1")

          const blackholed = yield* failingRun(
            {
              LEGACY_DATABASE_URL: legacy.url,
              BITRIX24_WEBHOOK_URL: `http://127.0.0.1:${silent.port}/rest/1/secretcode2/`,
            },
            "preflight_e2e_state_a2",
          )
          assert.isBelow(blackholed.ms, 15_000, blackholed.message)
          assert.include(blackholed.message, "did not answer the pre-flight call (TIMEOUT)")
          assert.include(blackholed.message, `127.0.0.1:${silent.port}`)
          assert.notInclude(blackholed.message, "secretcode2")

          const refused = yield* failingRun(
            { LEGACY_DATABASE_URL: legacy.url, BITRIX24_WEBHOOK_URL: wrongCode(portal.webhookUrl) },
            "preflight_e2e_state_a3",
          )
          assert.isBelow(refused.ms, 15_000, refused.message)
          assert.include(refused.message, "refused the pre-flight call (INVALID_CREDENTIALS)")
          assert.include(refused.message, "check the webhook URL")
          const log = yield* portal.requestLog
          assert.deepStrictEqual(
            log.filter((e) => Legacy.writeMethods.has(e.method)),
            [],
            "no write reached the portal",
          )
          // A refused credential is final: one call, not retried.
          assert.deepStrictEqual(
            log.map((e) => `${e.method} ${e.status} ${e.error}`),
            ["profile 401 INVALID_CREDENTIALS"],
          )

          const sourcePort = yield* closedPort
          const noSource = yield* failingRun(
            {
              LEGACY_DATABASE_URL: `postgres://postgres:dbsecret@127.0.0.1:${sourcePort}/crm`,
              BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            },
            "preflight_e2e_state_a4",
          )
          assert.isBelow(noSource.ms, 15_000, noSource.message)
          assert.include(noSource.message, "legacy-crm")
          assert.include(noSource.message, `127.0.0.1:${sourcePort}/crm`)
          assert.include(noSource.message, "ECONNREFUSED")
          assert.notInclude(noSource.message, "dbsecret")
          assert.deepStrictEqual(
            (yield* portal.requestLog).filter((e) => Legacy.writeMethods.has(e.method)),
            [],
            "no write reached the portal",
          )
        }),
      ),
    240_000,
  )

  it.live(
    "the command line: closed portal port, wrong webhook code and closed source port exit 1 with a clear message, nothing written or pending",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "preflight_e2e_legacy_b", 10)
          const portal = yield* Legacy.portal()
          const code = portal.webhookUrl.split("/")[5]!
          const cases = [
            {
              env: { BITRIX24_WEBHOOK_URL: `http://127.0.0.1:${yield* closedPort}/rest/1/secretcode3/` },
              expect: "did not answer the pre-flight call (ECONNREFUSED)",
            },
            {
              env: { BITRIX24_WEBHOOK_URL: wrongCode(portal.webhookUrl) },
              expect: "refused the pre-flight call (INVALID_CREDENTIALS)",
            },
            {
              env: {
                BITRIX24_WEBHOOK_URL: portal.webhookUrl,
                LEGACY_DATABASE_URL: `postgres://postgres:dbsecret@127.0.0.1:${yield* closedPort}/crm`,
              },
              expect: "source legacy-crm",
            },
          ]
          let i = 0
          for (const c of cases) {
            const store = yield* state(`preflight_e2e_state_b${++i}`)
            const done = yield* Effect.promise(
              () =>
                Cli.start(["run", "migrate-legacy"], {
                  LEGACY_DATABASE_URL: legacy.url,
                  PIPELINE_STATE_URL: store.url,
                  ...c.env,
                }).done,
            )
            const output = done.stdout + done.stderr
            assert.strictEqual(done.code, 1, output)
            assert.include(output, c.expect)
            assert.include(output, "Nothing was read or written")
            for (const secret of ["secretcode3", "dbsecret", code])
              assert.notInclude(output, secret, "no secret printed")
            assert.deepStrictEqual(yield* store.leftOver, { idMap: 0, running: 0 })
            // The next morning, `status` says why the night's run stopped.
            const status = yield* Effect.promise(
              () => Cli.start(["status", "migrate-legacy"], { PIPELINE_STATE_URL: store.url }).done,
            )
            assert.strictEqual(status.code, 0, status.stdout + status.stderr)
            assert.match(status.stdout, /\sfailed\s/)
            assert.include(status.stdout, `Last run failed: `)
            assert.include(status.stdout, c.expect)
          }
          assert.deepStrictEqual(
            (yield* portal.requestLog).filter((e) => Legacy.writeMethods.has(e.method)),
            [],
            "no write reached the portal",
          )
        }),
      ),
    360_000,
  )
})
