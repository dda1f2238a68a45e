import * as Memory from "@b24etl/connectors/Memory"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import * as Runner from "@b24etl/core/Runner"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as StateDrivers from "../packages/core/test/fixtures/StateDrivers.js"
import * as Legacy from "./support/legacy.js"

const COMPANY = 4

describe("OAuth through a whole run", () => {
  it.live(
    "an access token that expires in the middle of a run is refreshed once and the run goes on",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const portal = yield* Legacy.portal({ latencyMs: 20 })
          const tokens = yield* portal.oauth.issueToken()
          let refreshes = 0
          const sink = Bitrix24.sink(
            {
              oauth: {
                portalUrl: portal.url,
                clientId: portal.oauth.clientId,
                clientSecret: Redacted.make(portal.oauth.clientSecret),
                accessToken: Redacted.make(tokens.accessToken),
                refreshToken: Redacted.make(tokens.refreshToken),
                tokenUrl: portal.oauth.tokenUrl,
                onRefresh: () => Effect.sync(() => refreshes++),
              },
            },
            { rate: "unlimited", concurrency: 2 },
          )
          const source = Memory.source("crm", {
            companies: Array.from({ length: 400 }, (_, i) => ({ id: i + 1, name: `OAuth Company ${i + 1}` })),
          })
          const pipeline = Pipeline.make({
            name: "oauth-midrun",
            sink,
            entities: {
              company: Pipeline.entity({
                from: source.records<{ id: number; name: string }>("companies", { key: "id" }),
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
          const report = yield* Runner.run(pipeline).pipe(
            Effect.provide(StateStoreSql.layerFromUrl(state.url, StateDrivers.drivers)),
            Effect.provide(Progress.silent),
          )
          assert.strictEqual(report.status, "succeeded", report.error)
          assert.strictEqual((yield* portal.items(COMPANY)).length, 400)
          const log = yield* portal.requestLog
          assert.isAtLeast(log.filter((e) => e.error === "expired_token").length, 1)
          assert.strictEqual(log.filter((e) => e.method === "oauth.token").length, 1)
          assert.strictEqual(refreshes, 1)
        }),
      ),
    120_000,
  )
})
