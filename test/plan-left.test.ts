/**
 * `plan` counts what is left to write given the state (issue 15): before the first run every
 * record is new and the estimate covers them all; after a complete run with nothing changed it
 * says nothing is left (0 requests, no time); after 3 source rows change it counts 3 updates and
 * estimates only those. The real `migrate-legacy` pipeline from the command line, its legacy
 * database and state store on PostgreSQL, the emulator over HTTP.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { sql } from "kysely"
import * as StateDrivers from "../packages/core/test/fixtures/StateDrivers.js"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

interface PlannedEntity {
  readonly entity: string
  readonly count: number
  readonly left: {
    readonly creates: number
    readonly updates: number
    readonly unchanged: number
    readonly skipped: number
    readonly failed: number
    readonly pending: number
    readonly deadLetters: number
    readonly fromStart: boolean
  }
}

interface Planned {
  readonly entities: ReadonlyArray<PlannedEntity>
  readonly sink: { readonly estimate: number | null; readonly notes: ReadonlyArray<string> }
}

const sum = (planned: Planned, f: (e: PlannedEntity) => number) =>
  planned.entities.reduce((n, e) => n + f(e), 0)

describe("plan counts what is left to write", () => {
  it.live(
    "first plan: everything new, full estimate; after the run: nothing left; after 3 rows change: 3 updates",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "planleft_e2e_legacy", 20)
          const portal = yield* Legacy.portal()
          const state = yield* StateDrivers.postgresDatabase("planleft_e2e_state")
          const env = {
            LEGACY_DATABASE_URL: legacy.url,
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            PIPELINE_STATE_URL: state.url,
            // A burst of 1 at 2 requests/s: every request past the first shows in the estimate.
            BITRIX24_RATE: "2/1",
          }
          const cli = (args: ReadonlyArray<string>) =>
            Effect.gen(function* () {
              const done = yield* Effect.promise(() => Cli.start(args, env).done)
              return { ...done, output: done.stdout + done.stderr }
            })
          const plan = Effect.gen(function* () {
            const json = yield* cli(["plan", "migrate-legacy", "--json"])
            assert.strictEqual(json.code, 0, json.output)
            return JSON.parse(json.stdout) as Planned
          })

          const first = yield* plan
          for (const e of first.entities) {
            assert.isTrue(e.left.fromStart, e.entity)
            assert.strictEqual(e.left.creates + e.left.skipped + e.left.failed, e.count, e.entity)
            assert.strictEqual(e.left.updates + e.left.unchanged + e.left.pending + e.left.deadLetters, 0)
          }
          const creates = sum(first, (e) => e.left.creates)
          assert.isAbove(creates, 20)
          // 20 items per crm.item.batchImport, per entity.
          const requests = sum(first, (e) => Math.ceil(e.left.creates / 20))
          assert.include(first.sink.notes, `requests to write the counted records: ${requests}`)
          assert.strictEqual(first.sink.estimate, ((requests - 1) / 2) * 1000)

          const ran = yield* cli(["run", "migrate-legacy"])
          assert.include([0, 2], ran.code, ran.output)
          const letters = Number(/Dead letters: (\d+)/.exec(ran.stdout)?.[1] ?? 0)

          const second = yield* plan
          for (const e of second.entities) {
            assert.isFalse(e.left.fromStart, e.entity)
            assert.strictEqual(e.left.creates + e.left.updates + e.left.pending, 0, e.entity)
          }
          assert.strictEqual(
            sum(second, (e) => e.left.deadLetters),
            letters,
          )
          assert.include(second.sink.notes, "requests to write the counted records: 0")
          assert.strictEqual(second.sink.estimate, 0)
          const text = yield* cli(["plan", "migrate-legacy"])
          assert.strictEqual(text.code, 0, text.output)
          assert.include(text.stdout, "Nothing left to write: 0 requests, no time")
          assert.notInclude(text.stdout, "Estimated duration")
          assert.include(text.stdout, `0 new, 0 changed, 0 unchanged, 0 pending`)
          assert.include(text.stdout, `${letters} dead letters`)

          // Three accounts change in the legacy CRM.
          yield* Effect.promise(() =>
            sql`UPDATE accounts SET name = name || ' (edited)', updated_at = now() WHERE id IN (SELECT id FROM accounts WHERE deleted_at IS NULL ORDER BY id LIMIT 3)`.execute(
              legacy.db,
            ),
          )
          const third = yield* plan
          const company = third.entities.find((e) => e.entity === "company")!
          assert.deepStrictEqual(
            [company.left.creates, company.left.updates, company.left.pending],
            [0, 3, 0],
          )
          assert.strictEqual(
            sum(third, (e) => e.left.creates + e.left.updates),
            3,
          )
          assert.include(third.sink.notes, "requests to write the counted records: 1")
          const changed = yield* cli(["plan", "migrate-legacy"])
          assert.match(changed.stdout, /company\s+company\s+.+\s+\d+\s+0\s+3\s+0\s+0\s+0\s/)
          assert.include(changed.stdout, "0 new, 3 changed")
          assert.include(changed.stdout, "for the 3 records left to write")

          // The run writes exactly those.
          const synced = yield* cli(["run", "migrate-legacy", "--json"])
          const report = JSON.parse(synced.stdout) as {
            entities: ReadonlyArray<{ entity: string; created: number; updated: number }>
          }
          assert.deepStrictEqual(
            report.entities.map((e) => [e.entity, e.created, e.updated]),
            [
              ["company", 0, 3],
              ["contact", 0, 0],
              ["deal", 0, 0],
            ],
          )
        }),
      ),
    360_000,
  )
})
