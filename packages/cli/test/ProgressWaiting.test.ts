import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { project } from "./fixtures/Cli.js"
import * as Pipelines from "./fixtures/pipelines.js"

const COMPANY = 4

// A run the portal's operating-time budget pauses says so in its progress, with the method and when
// the wait ends, instead of a frozen count: `pipeline run` off a terminal (plain lines), against the
// emulator over HTTP with a budget of seconds and a window of 6 s (the vendor's is 480 s per 10 min).
describe("progress while the portal makes the run wait (child process, Bitrix24 emulator)", () => {
  it.live(
    "a run paused by a 429 OPERATION_TIME_LIMIT shows a stamped waiting line; the run then finishes",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          // An import of 20 costs 1.005 s of a 2.5 s budget. The sink believes the cloud's 480 s until
          // the portal's 429 tells it otherwise, then pauses until the window moves.
          const portal = yield* Emulator.make({
            rateLimit: { burst: 0 },
            operatingTime: {
              budgetSeconds: 2.5,
              windowSeconds: 6,
              bucketSeconds: 2,
              costPerItemSeconds: 0.05,
            },
          })
          const p = project()
          p.writePipeline("portal.ts", Pipelines.portal)
          const r = yield* Effect.promise(() =>
            p.cli(["run", "portal", "--limit", "100"], {
              env: {
                CI: "1",
                BITRIX24_WEBHOOK_URL: portal.webhookUrl,
                BITRIX24_RATE: "unlimited",
                BITRIX24_PACKING: "off",
                BITRIX24_CONCURRENCY: "1",
              },
            }),
          )
          const output = `${r.stdout}\n${r.stderr}`
          assert.strictEqual(r.code, 0, output)
          const waiting =
            /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ waiting for the portal's operating-time window: crm\.item\.batchImport until \d\d:\d\d:\d\d, \d+(\.\d)?s$/m
          assert.match(r.stdout, waiting, output)
          assert.match(r.stdout, /Status: succeeded/, output)
          assert.strictEqual(portal.store.items(COMPANY).length, 100)
          assert.isAtLeast((yield* portal.counters).status429, 1)
        }),
      ),
    180_000,
  )
})
