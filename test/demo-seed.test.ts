import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

describe("pipeline demo seed", () => {
  it.live(
    "creates and fills the demo legacy CRM in MariaDB, and refuses to seed over data without --reset",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const database = yield* Legacy.freshDatabase("mysql", "b24etl_e2e_demo_seed")
          const first = yield* Effect.promise(
            () => Cli.start(["demo", "seed", "--url", database.url, "--companies", "25"], {}).done,
          )
          assert.strictEqual(first.code, 0, first.stdout + first.stderr)
          assert.include(first.stdout, '"companies": 25')
          const [accounts] = yield* database.query("select count(*) as n from accounts")
          assert.strictEqual(Number(accounts!.n), 25)

          const again = yield* Effect.promise(
            () => Cli.start(["demo", "seed", "--url", database.url, "--companies", "25"], {}).done,
          )
          assert.strictEqual(again.code, 1)
          assert.include(again.stderr, "already holds rows")
          const reset = yield* Effect.promise(
            () => Cli.start(["demo", "seed", "--url", database.url, "--companies", "10", "--reset"], {}).done,
          )
          assert.strictEqual(reset.code, 0, reset.stdout + reset.stderr)
          const [after] = yield* database.query("select count(*) as n from accounts")
          assert.strictEqual(Number(after!.n), 10)
        }),
      ),
    180_000,
  )
})
