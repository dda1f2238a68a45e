import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

describe("pipeline plan against a portal", () => {
  it.live(
    "a misspelt field fails the plan, naming the field and the nearest real one, before anything is written",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const portal = yield* Legacy.portal()
          const env = {
            PIPELINE_DIR: join(Cli.root, "test/fixtures/pipelines"),
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
          }
          const planned = yield* Effect.promise(() => Cli.start(["plan", "misspelt"], env).done)
          const output = planned.stdout + planned.stderr
          assert.strictEqual(planned.code, 1, output)
          assert.include(output, 'company.titel: company has no field "titel"; did you mean "title"?')
          assert.notInclude(output, portal.webhookUrl.split("/")[5]!, "the webhook code is never printed")
          assert.strictEqual((yield* portal.items(4)).length, 0)
        }),
      ),
    120_000,
  )
})
