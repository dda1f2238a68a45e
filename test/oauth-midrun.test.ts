import * as Memory from "@b24etl/connectors/Memory"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import * as Runner from "@b24etl/core/Runner"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import * as StateDrivers from "../packages/core/test/fixtures/StateDrivers.js"
import * as Legacy from "./support/legacy.js"

const COMPANY = 4

describe("OAuth through a whole run", () => {
  it.live(
    "an access token that expires mid-run is refreshed once; the rotated pair is stored, encrypted, and the next runs start from it",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const portal = yield* Legacy.portal({ latencyMs: 20 })
          const tokens = yield* portal.oauth.issueToken()
          let refreshes = 0
          const rotated: Array<string> = []
          const sink = Bitrix24.sink(
            {
              oauth: {
                portalUrl: portal.url,
                clientId: portal.oauth.clientId,
                clientSecret: Redacted.make(portal.oauth.clientSecret),
                accessToken: Redacted.make(tokens.accessToken),
                refreshToken: Redacted.make(tokens.refreshToken),
                tokenUrl: portal.oauth.tokenUrl,
                onRefresh: (t) =>
                  Effect.sync(() => {
                    refreshes++
                    rotated.push(Redacted.value(t.accessToken), Redacted.value(t.refreshToken))
                  }),
              },
            },
            { rate: "unlimited", concurrency: 2 },
          )
          const companies = (n: number) =>
            Memory.source("crm", {
              companies: Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `OAuth Company ${i + 1}` })),
            })
          const pipeline = (n: number) =>
            Pipeline.make({
              name: "oauth-midrun",
              sink,
              entities: {
                company: Pipeline.entity({
                  from: companies(n).records<{ id: number; name: string }>("companies", { key: "id" }),
                  to: Bitrix24.company,
                  map: (r) => ({ title: r.name }),
                }),
              },
            })
          // Expire the token once the run is well under way.
          yield* Effect.forkScoped(
            Effect.gen(function* () {
              while ((yield* portal.items(COMPANY)).length < 100) yield* Effect.sleep("10 millis")
              yield* portal.oauth.expireAccessToken()
            }),
          )
          const state = yield* StateDrivers.postgresDatabase("b24etl_e2e_oauth_state")
          const run = (n: number) =>
            Runner.run(pipeline(n)).pipe(
              Effect.provide(StateStoreSql.layerFromUrl(state.url, StateDrivers.drivers)),
              Effect.provide(Progress.silent),
            )
          const tokenCalls = Effect.map(
            portal.requestLog,
            (log) => log.filter((e) => e.method === "oauth.token").length,
          )
          const report = yield* run(400)
          assert.strictEqual(report.status, "succeeded", report.error)
          assert.strictEqual((yield* portal.items(COMPANY)).length, 400)
          const log = yield* portal.requestLog
          assert.isAtLeast(log.filter((e) => e.error === "expired_token").length, 1)
          assert.strictEqual(yield* tokenCalls, 1)
          assert.strictEqual(refreshes, 1)

          // The configured pair is spent now: its access token expired, its refresh token rotated.
          // The next run starts from the pair the refresh stored, with no refresh of its own.
          const second = yield* run(450)
          assert.strictEqual(second.status, "succeeded", second.error)
          assert.strictEqual((yield* portal.items(COMPANY)).length, 450)
          assert.strictEqual(yield* tokenCalls, 1)

          // When the stored access token expires too, the stored refresh token gets a new pair.
          yield* portal.oauth.expireAccessToken()
          const third = yield* run(500)
          assert.strictEqual(third.status, "succeeded", third.error)
          assert.strictEqual((yield* portal.items(COMPANY)).length, 500)
          assert.strictEqual(yield* tokenCalls, 2)
          assert.strictEqual(refreshes, 2)

          // A plan that has to refresh keeps the new pair as well: the run after it needs no refresh.
          yield* portal.oauth.expireAccessToken()
          const planned = yield* Runner.plan(pipeline(500)).pipe(
            Effect.provide(StateStoreSql.layerFromUrl(state.url, StateDrivers.drivers)),
          )
          assert.deepStrictEqual(planned.sink.problems, [])
          assert.strictEqual(yield* tokenCalls, 3)
          const fourth = yield* run(520)
          assert.strictEqual(fourth.status, "succeeded", fourth.error)
          assert.strictEqual((yield* portal.items(COMPANY)).length, 520)
          assert.strictEqual(yield* tokenCalls, 3)

          // What the state store holds is encrypted: neither token appears in it.
          const stored = yield* Effect.scoped(
            Effect.flatMap(StateStoreSql.makeFromUrl(state.url, StateDrivers.drivers), (store) =>
              store.loadCredential(`bitrix24-oauth ${new URL(portal.url).origin} ${portal.oauth.clientId}`),
            ),
          )
          assert.isTrue(Option.isSome(stored))
          for (const token of rotated) assert.notInclude(Option.getOrThrow(stored), token)
        }),
      ),
    120_000,
  )
})
