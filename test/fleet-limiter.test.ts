/**
 * One limiter per portal, shared: two pipelines write to one portal (2 requests/s, burst 50) from
 * two processes on one PostgreSQL state store. Each process alone would send its first 48
 * requests at once; together they keep to the portal's bucket, and the portal answers no 503.
 */
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

const pipelines = join(Cli.root, "test/fixtures/fleet")

describe("two processes, one portal, one PostgreSQL state store", () => {
  it.live(
    "share the portal's rate limit: no 503 answers",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_fleet19_limiter")
          const portal = yield* Legacy.portal({ rateLimit: { rate: 2, burst: 50 }, latencyMs: 50 })
          const env = {
            PIPELINE_STATE_URL: state.url,
            PIPELINE_DIR: pipelines,
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "standard",
            // Plain imports, 20 items a request: enough requests to press on the shared bucket
            // (packed imports would carry 1,600 companies in a handful of requests).
            BITRIX24_PACKING: "off",
          }
          const a = Cli.start(["run", "fleet-a"], env)
          const b = Cli.start(["run", "fleet-b"], env)
          yield* Effect.addFinalizer(() => Effect.sync(() => [a, b].forEach((p) => p.child.kill("SIGKILL"))))
          const [doneA, doneB] = yield* Effect.promise(() => Promise.all([a.done, b.done]))
          assert.strictEqual(doneA.code, 0, doneA.stdout + doneA.stderr)
          assert.strictEqual(doneB.code, 0, doneB.stdout + doneB.stderr)

          const counters = yield* portal.counters
          // More than one bucket's worth of requests: two process-local limiters would overflow it.
          assert.isAbove(counters.requests, 80)
          assert.strictEqual(counters.status503, 0, JSON.stringify(counters.byStatus))
          assert.strictEqual(counters.status429, 0)
          const companies = yield* portal.items(4)
          assert.strictEqual(companies.length, 1600)
          assert.strictEqual(new Set(companies.map((c) => c.title)).size, 1600)
          // The bucket both processes drew on.
          const buckets = yield* state.query("select bucket from rate_buckets")
          assert.deepStrictEqual(
            buckets.map((r) => r.bucket),
            [new URL(portal.url).origin],
          )
        }),
      ),
    180_000,
  )
})
