import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { sql } from "kysely"
import * as Legacy from "./support/legacy.js"

const COMPANY = 4

describe("scheduled sync after the first migration (PostgreSQL)", () => {
  it.live(
    "creates the 10 new accounts, updates the 10 changed ones and writes nothing for 5 touched but unchanged",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "b24etl_e2e_sync_legacy", 30)
          const portal = yield* Legacy.portal()
          const env = { LEGACY_DATABASE_URL: legacy.url, BITRIX24_WEBHOOK_URL: portal.webhookUrl }
          yield* Effect.gen(function* () {
            yield* Legacy.runMigrate(env)
            const before = yield* portal.items(COMPANY)

            const later = new Date("2025-08-01T10:00:00Z")
            const live = yield* Effect.promise(() =>
              legacy.db
                .selectFrom("accounts")
                .selectAll()
                .where("deleted_at", "is", null)
                .orderBy("id")
                .execute(),
            )
            const changed = live.slice(0, 10)
            const touched = live.slice(10, 15)
            for (const a of changed) {
              yield* Effect.promise(() =>
                sql`UPDATE accounts SET name = ${`${a.name} (renamed)`}, updated_at = ${later} WHERE id = ${a.id}`.execute(
                  legacy.db,
                ),
              )
            }
            for (const a of touched) {
              yield* Effect.promise(() =>
                sql`UPDATE accounts SET updated_at = ${later} WHERE id = ${a.id}`.execute(legacy.db),
              )
            }
            yield* Effect.promise(() =>
              legacy.db
                .insertInto("accounts")
                .values(
                  Array.from({ length: 10 }, (_, i) => ({
                    name: `New Account ${i + 1}`,
                    legal_name: null,
                    industry: null,
                    website: null,
                    phone: "+49 30 5550000",
                    vat_number: null,
                    owner_id: null,
                    created_at: later,
                    updated_at: later,
                    deleted_at: null,
                  })),
                )
                .execute(),
            )

            const sync = yield* Legacy.runMigrate(env)
            const company = sync.entities.find((e) => e.entity === "company")!
            assert.strictEqual(company.read, 25, "only rows past the checkpoint are read")
            assert.strictEqual(company.created, 10)
            assert.strictEqual(company.updated, 10)
            assert.strictEqual(company.unchanged, 5)

            const after = yield* portal.items(COMPANY)
            assert.strictEqual(after.length, before.length + 10)
            for (const a of changed) {
              const item = after.find((c) => c.originId === `company:${a.id}`)
              assert.strictEqual(item?.title, `${a.name} (renamed)`)
            }
            // The touched ones were not sent at all: their update time in the portal did not move.
            for (const a of touched) {
              const was = before.find((c) => c.originId === `company:${a.id}`)
              const is = after.find((c) => c.originId === `company:${a.id}`)
              assert.deepStrictEqual(is, was)
            }
          }).pipe(Effect.provide(Legacy.stateStore("postgres", "b24etl_e2e_sync_state")))
        }),
      ),
    240_000,
  )
})
