/**
 * migrate-legacy: the legacy CRM (accounts, people, opportunities) into Bitrix24 companies,
 * contacts and deals, then kept in step every 15 minutes by `pipeline serve`.
 *
 * Zero configuration: without `LEGACY_DATABASE_URL` it reads an embedded demo database
 * (created and seeded under `.pipeline/legacy` on first use); without `BITRIX24_WEBHOOK_URL` it
 * writes to a local Bitrix24 emulator (kept under `.pipeline/portal`).
 */

import * as Sql from "@b24etl/connectors/Sql"
import * as Pipeline from "@b24etl/core/Pipeline"
import { ref } from "@b24etl/core/Reference"
import { SourceError } from "@b24etl/core/Source"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { Config, Effect, Option } from "effect"
import * as Database from "./legacy/Database.js"
import * as Mapping from "./legacy/mapping.js"
import * as Portal from "./legacy/Portal.js"

/** The legacy database: `LEGACY_DATABASE_URL` (PostgreSQL or MySQL), else the embedded demo. */
const legacyUrl = Effect.gen(function* () {
  const configured = yield* Config.option(Config.redacted("LEGACY_DATABASE_URL"))
  if (Option.isSome(configured)) return configured.value
  const companies = yield* Config.integer("LEGACY_DEMO_COMPANIES").pipe(Config.withDefault(300))
  const embedded = yield* Database.embedded(".pipeline/legacy", { companies })
  yield* Effect.logInfo(
    embedded.seededNow
      ? `no LEGACY_DATABASE_URL set: created the demo legacy database in ${embedded.directory} with ${companies} companies`
      : `no LEGACY_DATABASE_URL set: reading the demo legacy database in ${embedded.directory}`,
  )
  // Served on a free port each run: the binding remembers the directory instead.
  const located: Sql.Located = { url: embedded.url, location: `embedded demo database ${embedded.directory}` }
  return located
}).pipe(
  Effect.mapError(
    (e) =>
      new SourceError({
        source: "legacy-crm",
        message: e._tag === "LegacyDatabaseError" ? e.message : `configuration: ${String(e)}`,
        cause: e,
      }),
  ),
)

const legacy = Sql.source({ name: "legacy-crm", url: legacyUrl })

interface Account {
  readonly id: number
  readonly name: string
  readonly legal_name: string | null
  readonly industry: string | null
  readonly website: string | null
  readonly phone: string | null
  readonly vat_number: string | null
  readonly owner_user_id: number | null
  readonly deleted_at: Date | null
}

interface Person {
  readonly id: number
  readonly account_id: number | null
  readonly first_name: string
  readonly last_name: string | null
  readonly job_title: string | null
  readonly phones: string | null
  readonly emails: string | null
  readonly owner_user_id: number | null
}

interface Opportunity {
  readonly id: number
  readonly account_id: number | null
  readonly primary_contact_id: number | null
  readonly title: string | null
  readonly amount: string | null
  readonly currency: string | null
  readonly stage: string
  readonly probability: number | null
  readonly close_date: string | null
  readonly notes: string | null
  readonly owner_user_id: number | null
  /** Comma-separated ids from `opportunity_contacts`. */
  readonly contact_ids: string | null
}

const lines = (...parts: ReadonlyArray<string | null | undefined | false>): string | undefined => {
  const text = parts.filter((p): p is string => typeof p === "string" && p.trim() !== "").join("\n")
  return text === "" ? undefined : text
}

export default Pipeline.make({
  name: "migrate-legacy",
  description: "Legacy CRM accounts, people and opportunities into Bitrix24 companies, contacts and deals",
  sink: Portal.sink(),
  schedule: { cron: "*/15 * * * *", timeZone: "UTC" },
  options: { originator: "legacy-crm" },
  entities: {
    company: Pipeline.entity({
      from: legacy.query<Account>(
        "SELECT a.*, o.bitrix_user_id AS owner_user_id FROM accounts a LEFT JOIN owners o ON o.id = a.owner_id",
        { key: "id", cursor: "updated_at" },
      ),
      to: Bitrix24.company,
      // Accounts deleted in the legacy CRM are not migrated; one deleted after its migration stays as it is.
      deleted: { when: (r) => r.deleted_at !== null, policy: "ignore" },
      map: (r) => ({
        title: r.name,
        // Empty lists, not `undefined`: a sync then removes the portal's last phone too.
        PHONE: Mapping.parsePhones(r.phone),
        WEB: Bitrix24.webs(r.website),
        assignedById: r.owner_user_id ?? 1,
        comments: lines(
          r.legal_name && `Legal name: ${r.legal_name}`,
          r.vat_number && `VAT: ${r.vat_number}`,
          r.industry && `Industry: ${r.industry}`,
        ),
      }),
    }),
    contact: Pipeline.entity({
      from: legacy.query<Person>(
        "SELECT p.*, o.bitrix_user_id AS owner_user_id FROM people p LEFT JOIN owners o ON o.id = p.owner_id",
        { key: "id", cursor: "updated_at" },
      ),
      to: Bitrix24.contact,
      references: ["company"],
      map: (r) => ({
        name: r.first_name,
        lastName: r.last_name ?? undefined,
        post: r.job_title ?? undefined,
        PHONE: Mapping.parsePhones(r.phones),
        EMAIL: Mapping.parseEmails(r.emails),
        companyId: ref("company", r.account_id),
        assignedById: r.owner_user_id ?? 1,
      }),
    }),
    deal: Pipeline.entity({
      from: legacy.query<Opportunity>(
        {
          postgres: `SELECT op.*, o.bitrix_user_id AS owner_user_id,
              (SELECT string_agg(oc.person_id::text, ',' ORDER BY oc.person_id)
                 FROM opportunity_contacts oc WHERE oc.opportunity_id = op.id) AS contact_ids
            FROM opportunities op LEFT JOIN owners o ON o.id = op.owner_id`,
          mysql: `SELECT op.*, o.bitrix_user_id AS owner_user_id,
              (SELECT GROUP_CONCAT(oc.person_id ORDER BY oc.person_id SEPARATOR ',')
                 FROM opportunity_contacts oc WHERE oc.opportunity_id = op.id) AS contact_ids
            FROM opportunities op LEFT JOIN owners o ON o.id = op.owner_id`,
        },
        { key: "id", cursor: "updated_at" },
      ),
      to: Bitrix24.deal,
      references: ["company", "contact"],
      map: (r) => {
        const currency = Mapping.normalizeCurrency(r.currency)
        const stage = Mapping.toStageId(r.stage)
        return {
          title: r.title?.trim() || undefined,
          stageId: stage.value,
          opportunity: r.amount === null ? undefined : Number(r.amount),
          currencyId: currency.value,
          isManualOpportunity: "Y",
          probability: r.probability ?? undefined,
          closedate: r.close_date ?? undefined,
          companyId: ref("company", r.account_id),
          contactId: ref("contact", r.primary_contact_id),
          // `[]` when the join table has none: a sync then unlinks a deal's last contact.
          contactIds: r.contact_ids ? r.contact_ids.split(",").map((id: string) => ref("contact", id)) : [],
          assignedById: r.owner_user_id ?? 1,
          comments: lines(r.notes, currency.note, stage.note),
        }
      },
    }),
  },
})
