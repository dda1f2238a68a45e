import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { sql } from "kysely"
import * as Mapping from "../pipelines/legacy/mapping.js"
import * as Legacy from "./support/legacy.js"

const COMPANY = 4
const CONTACT = 3
const DEAL = 2

const engines: ReadonlyArray<Legacy.Engine> = ["postgres", "mysql"]

for (const engine of engines) {
  describe(`migrate-legacy from ${engine === "postgres" ? "PostgreSQL" : "MariaDB"}`, () => {
    it.live(
      "migrates companies, contacts and deals with their links; orphans are dead letters; a second run creates nothing",
      () =>
        Effect.scoped(
          Effect.gen(function* () {
            const legacy = yield* Legacy.seededLegacy(engine, `b24etl_e2e_legacy_${engine}`, 40)
            const portal = yield* Legacy.portal()
            const env = { LEGACY_DATABASE_URL: legacy.url, BITRIX24_WEBHOOK_URL: portal.webhookUrl }
            const store = Legacy.stateStore(engine, `b24etl_e2e_state_${engine}`)

            yield* Effect.gen(function* () {
              const report = yield* Legacy.runMigrate(env)
              assert.strictEqual(report.status, "partial", report.error)

              const companies = yield* portal.items(COMPANY)
              const contacts = yield* portal.items(CONTACT)
              const deals = yield* portal.items(DEAL)
              const byOrigin = (items: ReadonlyArray<Record<string, unknown>>) =>
                new Map(items.map((i) => [String(i.originId), i]))
              const companyByOrigin = byOrigin(companies)
              const contactByOrigin = byOrigin(contacts)
              const companyById = new Map(companies.map((c) => [String(c.id), c]))
              const contactById = new Map(contacts.map((c) => [String(c.id), c]))

              // Every live account is a company, once.
              const accounts = yield* Effect.promise(() =>
                legacy.db.selectFrom("accounts").selectAll().orderBy("id").execute(),
              )
              const live = accounts.filter((a) => a.deleted_at === null)
              assert.strictEqual(companies.length, live.length)
              assert.strictEqual(companyByOrigin.size, companies.length, "no originId twice")
              for (const account of live.slice(0, 10)) {
                const company = companyByOrigin.get(`company:${account.id}`)
                assert.isDefined(company, `account ${account.id}`)
                assert.strictEqual(company!.title, account.name)
                assert.strictEqual(company!.originatorId, "legacy-crm")
                const phones = Mapping.parsePhones(account.phone)
                assert.deepStrictEqual(
                  ((company!.PHONE as Array<{ VALUE: string }>) ?? []).map((p) => p.VALUE),
                  phones.map((p) => p.VALUE),
                )
              }

              // Contacts link to the company of their account.
              const people = yield* Effect.promise(() => legacy.db.selectFrom("people").selectAll().execute())
              const liveIds = new Set(live.map((a) => a.id))
              for (const person of people.slice(0, 30)) {
                const contact = contactByOrigin.get(`contact:${person.id}`)
                if (person.account_id !== null && !liveIds.has(person.account_id)) {
                  assert.isUndefined(contact, `person ${person.id} has no company to link to`)
                  continue
                }
                assert.isDefined(contact, `person ${person.id}`)
                assert.strictEqual(contact!.name, person.first_name)
                if (person.account_id !== null) {
                  const company = companyById.get(String(contact!.companyId))
                  assert.strictEqual(company?.originId, `company:${person.account_id}`)
                }
              }

              // Deals link to their company and contacts; amounts and stages are mapped.
              const opportunities = yield* Effect.promise(() =>
                legacy.db.selectFrom("opportunities").selectAll().execute(),
              )
              const links = yield* Effect.promise(() =>
                legacy.db.selectFrom("opportunity_contacts").selectAll().execute(),
              )
              let checked = 0
              for (const op of opportunities) {
                const deal = deals.find((d) => d.originId === `deal:${op.id}`)
                if (deal === undefined) continue
                checked++
                assert.strictEqual(Number(deal.opportunity), Number(op.amount))
                assert.strictEqual(deal.stageId, Mapping.toStageId(op.stage).value)
                assert.strictEqual(deal.currencyId, Mapping.normalizeCurrency(op.currency).value)
                assert.strictEqual(
                  companyById.get(String(deal.companyId))?.originId,
                  `company:${op.account_id}`,
                )
                if (op.primary_contact_id !== null) {
                  assert.strictEqual(
                    contactById.get(String(deal.contactId))?.originId,
                    `contact:${op.primary_contact_id}`,
                  )
                }
                const expected = links
                  .filter((l) => l.opportunity_id === op.id)
                  .map((l) => `contact:${l.person_id}`)
                  .sort()
                const actual = ((deal.contactIds as Array<number>) ?? [])
                  .map((id) => String(contactById.get(String(id))?.originId))
                  .sort()
                assert.deepStrictEqual(actual, expected, `deal ${op.id} contacts`)
              }
              assert.isAbove(checked, 10)

              // The seed's orphans are in the dead letters, each with its reason.
              const state = yield* Legacy.StateStore
              const letters = yield* state.deadLetters("migrate-legacy", { limit: 10_000 })
              assert.isAbove(letters.length, 0)
              for (const letter of letters) {
                assert.strictEqual(letter.code, "UNRESOLVED_REFERENCE")
                assert.match(
                  letter.message,
                  /-> (company|contact) \S+: (that record was never written: the source has no such record|that record failed \(stage |that record is deleted in the source)/,
                )
              }
              // People of accounts deleted in the legacy CRM: their letters say the account is deleted.
              const deletedAccounts = new Set(accounts.filter((a) => a.deleted_at !== null).map((a) => a.id))
              const ofDeleted = people.filter(
                (p) => p.account_id !== null && deletedAccounts.has(p.account_id),
              )
              assert.isAbove(ofDeleted.length, 0)
              for (const p of ofDeleted) {
                const letter = letters.find((l) => l.entity === "contact" && l.sourceKey === String(p.id))
                assert.include(
                  letter?.message,
                  `company ${p.account_id}: that record is deleted in the source`,
                )
              }
              const orphanPeople = people.filter(
                (p) => p.account_id !== null && !accounts.some((a) => a.id === p.account_id),
              )
              assert.isAbove(orphanPeople.length, 0)
              for (const p of orphanPeople) {
                const letter = letters.find((l) => l.entity === "contact" && l.sourceKey === String(p.id))
                assert.isDefined(letter, `orphan person ${p.id} is a dead letter`)
                // Its company is not in the legacy data at all, and the message says so.
                assert.include(letter!.message, `company ${p.account_id}: that record was never written`)
              }
              assert.strictEqual(report.deadLetters, letters.length)

              const logBefore = (yield* portal.requestLog).length
              const again = yield* Legacy.runMigrate(env)
              assert.deepStrictEqual(
                again.entities.map((e) => e.created + e.updated),
                [0, 0, 0],
              )
              assert.strictEqual((yield* portal.items(CONTACT)).length, contacts.length)
              // Nothing changed, so nothing was read past the checkpoints and nothing was sent: the
              // only requests are the pre-flight call (profile) and the check of the mapped fields
              // before writing (crm.item.fields).
              assert.deepStrictEqual(
                [...new Set((yield* portal.requestLog).slice(logBefore).map((e) => e.method))],
                ["profile", "crm.item.fields"],
              )

              // A changed account is updated in place on the next run.
              yield* Effect.promise(() =>
                sql`UPDATE accounts SET name = 'Renamed GmbH', updated_at = ${new Date("2025-07-01T00:00:00Z")} WHERE id = ${live[0]!.id}`.execute(
                  legacy.db,
                ),
              )
              const third = yield* Legacy.runMigrate(env)
              assert.strictEqual(third.entities[0]!.updated, 1)
              const renamed = (yield* portal.items(COMPANY)).find(
                (c) => c.originId === `company:${live[0]!.id}`,
              )
              assert.strictEqual(renamed?.title, "Renamed GmbH")
              assert.strictEqual((yield* portal.items(COMPANY)).length, companies.length)
            }).pipe(Effect.provide(store))
          }),
        ),
      240_000,
    )
  })
}
