import { Clock, Effect } from "effect"
import { type Kysely, type Selectable, sql } from "kysely"
import * as Random from "./internal/random.js"
import * as Words from "./internal/vocabulary.js"
import { LegacyDatabaseError } from "./LegacyDatabaseError.js"
import {
  type AccountsTable,
  createTables,
  dataTables,
  dropTables,
  existingTables,
  type LegacyDatabase,
  type LegacyDialect,
  type OpportunitiesTable,
  type OpportunityContactsTable,
  type OwnersTable,
  type PeopleTable,
} from "./schema.js"

/**
 * The seed generator for the demo legacy CRM: a deterministic (seeded) company history with the
 * awkward data real legacy systems have: unicode names, missing values, duplicate e-mails, odd
 * phone formats, a few orphaned references, soft-deleted companies, stage and currency variants.
 * Timestamps grow with ids and end at `legacyNow` (a fixed date, never the wall clock), so the
 * rows are the same on every run and Bitrix24 can import them in ascending `createdTime`.
 */

/** The "now" of the legacy data: the latest `created_at` / `updated_at` any row has. */
export const legacyNow = new Date("2025-06-30T18:00:00.000Z")
/** When the legacy CRM went live: the earliest `created_at`. */
export const legacyStart = new Date("2012-03-01T08:00:00.000Z")

export interface SeedOptions {
  /** Accounts (companies) to create; about 3 people and 2 opportunities come with each. Default 1,000. */
  readonly companies?: number | undefined
  /** The PRNG seed: the same seed gives the same rows. Default 1. */
  readonly seed?: number | undefined
  /** Drop and recreate the legacy tables first. Without it, seeding a database with data fails. */
  readonly reset?: boolean | undefined
  /** Rows per multi-row INSERT. Default 500. */
  readonly chunkSize?: number | undefined
}

/** References that point at rows that do not exist, by kind. */
export interface OrphanCounts {
  /** `people.account_id` naming a missing account. */
  readonly peopleAccount: number
  /** `opportunities.account_id` naming a missing account. */
  readonly opportunityAccount: number
  /** `opportunities.primary_contact_id` naming a missing person. */
  readonly opportunityPrimaryContact: number
  /** `opportunity_contacts.person_id` naming a missing person. */
  readonly opportunityContact: number
  /** `owner_id` (any table) naming a missing owner. */
  readonly owner: number
}

/** What a seed wrote. */
export interface SeedCounts {
  readonly owners: number
  readonly companies: number
  readonly softDeletedCompanies: number
  readonly people: number
  readonly opportunities: number
  readonly opportunityContacts: number
  readonly orphans: OrphanCounts
}

/** Every row a seed writes, in id order. */
export interface LegacyRows {
  readonly owners: ReadonlyArray<Selectable<OwnersTable>>
  readonly accounts: ReadonlyArray<Selectable<AccountsTable>>
  readonly people: ReadonlyArray<Selectable<PeopleTable>>
  readonly opportunities: ReadonlyArray<Selectable<OpportunitiesTable>>
  readonly opportunity_contacts: ReadonlyArray<Selectable<OpportunityContactsTable>>
}

/** The seed recorded in the database (the `demo_seed` marker row). */
export interface SeedMarker {
  readonly seed: number
  readonly companies: number
  readonly counts: SeedCounts
  readonly seededAt: Date
}

const day = 86_400_000

// Mutable while generating; returned as readonly rows.
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** Ascending instants in [from, to]: gaps vary, none shorter than a second. */
const timeline = (random: Random.Random, count: number, from: number, to: number): Array<number> => {
  const gaps = Array.from({ length: count }, () => 0.2 + 1.6 * random.next())
  const total = gaps.reduce((a, b) => a + b, 0)
  const span = (to - from) * 0.98
  const out: Array<number> = []
  let at = from
  for (const gap of gaps) {
    at += Math.max(1000, Math.floor((gap / total) * span) + random.int(0, 999))
    out.push(at)
  }
  return out
}

/** Ids from 1 upwards with a few gaps (rows deleted long ago); the gaps make natural orphan targets. */
const identities = (random: Random.Random, count: number): { ids: Array<number>; gaps: Array<number> } => {
  const ids: Array<number> = []
  const gaps: Array<number> = []
  let next = 1
  for (let i = 0; i < count; i++) {
    if (random.chance(0.04)) {
      const skip = random.int(1, 3)
      for (let k = 0; k < skip; k++) gaps.push(next + k)
      next += skip
    }
    ids.push(next)
    next += 1
  }
  return { ids, gaps }
}

/** An id no row has: a gap, or beyond the last id. */
const missingId = (random: Random.Random, gaps: ReadonlyArray<number>, lastId: number): number =>
  gaps.length > 0 && random.chance(0.7) ? random.pick(gaps) : lastId + random.int(1000, 9000)

/** Makes instants strictly ascending in the order given, keeping them before `legacyNow`. */
const ascending = (times: Array<number>): Array<number> => {
  let previous = 0
  return times.map((t) => {
    const at = Math.min(Math.max(t, previous + 1000), legacyNow.getTime())
    previous = at
    return at
  })
}

/** `updated_at` for a row created at `created`: often equal, never before, never after `legacyNow`. */
const updatedAfter = (random: Random.Random, created: number): number =>
  random.chance(0.3) ? created : Math.min(legacyNow.getTime(), created + random.int(60_000, 700 * day))

const isoDate = (at: number): string => new Date(at).toISOString().slice(0, 10)

const phoneNumber = (random: Random.Random, locale: Words.Locale, mobile: boolean): string => {
  const d = random.digits
  switch (locale) {
    case "de": {
      if (mobile) {
        const m = random.pick(["151", "160", "170", "171", "172", "176", "1520"])
        return random.weighted<() => string>([
          [() => `0${m}/${d(7)}`, 3],
          [() => `+49 ${m} ${d(7)}`, 2],
          [() => `0${m}-${d(3)} ${d(4)}`, 1],
          [() => `0049${m}${d(7)}`, 1],
        ])()
      }
      const a = random.pick(["30", "40", "89", "221", "69", "341", "211"])
      return random.weighted<() => string>([
        [() => `+49 ${a} ${d(7)}`, 4],
        [() => `0${a} ${d(7)}`, 3],
        [() => `(0${a}) ${d(3)}-${d(2)}-${d(2)}`, 2],
        [() => `0049 ${a} ${d(7)}`, 2],
        [() => `+49 (0)${a} ${d(5)}-0`, 2],
        [() => `0${a}/${d(6)}`, 2],
        [() => `+49${a}${d(7)}`, 1],
        [() => `+49 ${a} ${d(5)}-0 ext. ${d(2)}`, 1],
        [() => `0${a} ${d(6)} Durchwahl ${d(3)}`, 1],
      ])()
    }
    case "ru": {
      if (mobile) {
        const m = random.pick(["916", "903", "926", "985", "965"])
        return random.weighted<() => string>([
          [() => `8 ${m} ${d(3)}-${d(2)}-${d(2)}`, 2],
          [() => `+7 ${m} ${d(3)}-${d(2)}-${d(2)}`, 2],
          [() => `8${m}${d(7)}`, 1],
        ])()
      }
      const c = random.pick(["495", "499", "812", "843"])
      return random.weighted<() => string>([
        [() => `+7 (${c}) ${d(3)} ${d(2)} ${d(2)}`, 3],
        [() => `8 (${c}) ${d(3)}-${d(2)}-${d(2)}`, 3],
        [() => `+7${c}${d(7)}`, 1],
        [() => `+7 (${c}) ${d(3)}-${d(2)}-${d(2)} доб. ${d(3)}`, 1],
      ])()
    }
    case "cjk":
      return random.weighted<() => string>([
        [() => `+81 3-${d(4)}-${d(4)}`, 2],
        [() => `+81 (0)6 ${d(4)} ${d(4)}`, 1],
        [() => (mobile ? `+81 90-${d(4)}-${d(4)}` : `+86 10 ${d(4)} ${d(4)}`), 2],
        [() => (mobile ? `+86 139 ${d(4)} ${d(4)}` : `+86-21-${d(8)}`), 2],
      ])()
    case "intl":
      return random.weighted<() => string>([
        [() => `+1 (212) 555-${d(4)}`, 2],
        [() => `+1-415-555-${d(4)} x${d(3)}`, 1],
        [() => `+44 20 ${d(4)} ${d(4)}`, 2],
        [() => `+33 1 ${d(2)} ${d(2)} ${d(2)} ${d(2)}`, 1],
        [() => `+41 44 ${d(3)} ${d(2)} ${d(2)}`, 1],
      ])()
  }
}

const garbagePhones = ["n/a", "-", "unknown", "keine", "нет", "000", "tbd", "siehe Firma", "?"]

const phoneHints = {
  work: ["", "", "", "tel.: ", "Tel: ", "office: ", "work: ", "Büro: ", "раб. "],
  mobile: ["mobile: ", "mobil: ", "Handy: ", "моб. ", "cell: ", "Mobile "],
  fax: ["fax: ", "Fax: ", "факс: "],
  home: ["home: ", "privat: ", "дом. "],
} as const

const separators = ["; ", ", ", " / ", "\n", " | ", ";"]

const personPhones = (random: Random.Random, locale: Words.Locale): string | null => {
  const roll = random.next()
  if (roll < 0.08) return null
  if (roll < 0.11) return ""
  if (roll < 0.15) return random.pick(garbagePhones)
  const parts: Array<string> = [`${random.pick(phoneHints.work)}${phoneNumber(random, locale, false)}`]
  if (random.chance(0.5)) parts.push(`${random.pick(phoneHints.mobile)}${phoneNumber(random, locale, true)}`)
  if (random.chance(0.12)) parts.push(`${random.pick(phoneHints.fax)}${phoneNumber(random, locale, false)}`)
  if (random.chance(0.08)) parts.push(`${random.pick(phoneHints.home)}${phoneNumber(random, locale, false)}`)
  if (random.chance(0.06)) parts.splice(random.int(0, parts.length), 0, random.pick(garbagePhones))
  if (random.chance(0.04)) parts.push(parts[0]!)
  return parts.join(random.pick(separators))
}

const freemail = ["gmail.com", "web.de", "gmx.de", "mail.ru", "yandex.ru", "qq.com", "outlook.com"]

const invalidEmail = (random: Random.Random, local: string, domain: string): string =>
  random.pick([
    `${local}@`,
    `${local.replace(".", "")}(at)${domain}`,
    "n/a",
    `${local.replace(".", " ")}@${domain}`,
    `@${domain}`,
    `${local}@${domain.split(".")[0]}`,
    `${local}@@${domain}`,
  ])

interface PersonEmails {
  readonly text: string | null
  readonly first: string | undefined
}

const personEmails = (
  random: Random.Random,
  first: Words.Name,
  last: Words.Name | null,
  domain: string | undefined,
  earlier: ReadonlyArray<string>,
): PersonEmails => {
  const roll = random.next()
  if (roll < 0.07) return { text: null, first: undefined }
  if (roll < 0.09) return { text: "", first: undefined }
  const at = domain ?? random.pick(freemail)
  const f = first[1]
  const l = last?.[1]
  const local =
    l === undefined
      ? f
      : random.weighted<string>([
          [`${f}.${l}`, 5],
          [`${f[0]}.${l}`, 2],
          [`${f}${l}`, 1],
          [l, 1],
        ])
  const primary = `${local}@${at}`
  const addresses: Array<string> = [primary]
  if (random.chance(0.2)) addresses.push(`${f}${random.int(1, 99)}@${random.pick(freemail)}`)
  if (domain !== undefined && random.chance(0.08)) addresses.push(`info@${domain}`)
  if (earlier.length > 0 && random.chance(0.015)) addresses.push(random.pick(earlier))
  if (random.chance(0.05)) addresses.push(primary.toUpperCase())
  if (random.chance(0.04)) addresses.push(primary)
  if (random.chance(0.04))
    addresses.splice(random.int(0, addresses.length), 0, invalidEmail(random, local, at))
  if (random.chance(0.02)) addresses[0] = `${first[0]}${last === null ? "" : ` ${last[0]}`} <${primary}>`
  if (random.chance(0.01)) addresses[0] = `mailto:${primary}`
  return { text: addresses.join(random.pick([", ", ";", "; ", " ; ", ",", "\n"])), first: primary }
}

const locales: ReadonlyArray<readonly [Words.Locale, number]> = [
  ["de", 55],
  ["ru", 20],
  ["cjk", 10],
  ["intl", 15],
]

const qualifiers: Record<Words.Locale, ReadonlyArray<Words.Name>> = {
  de: [
    ["Berlin", "berlin"],
    ["Hamburg", "hamburg"],
    ["München", "muenchen"],
    ["Köln", "koeln"],
    ["Düsseldorf", "duesseldorf"],
    ["Nord", "nord"],
    ["Süd", "sued"],
    ["Leipzig", "leipzig"],
  ],
  ru: [
    ["Москва", "msk"],
    ["Санкт-Петербург", "spb"],
    ["Казань", "kazan"],
    ["Новосибирск", "nsk"],
  ],
  cjk: [
    ["東京", "tokyo"],
    ["大阪", "osaka"],
    ["上海", "shanghai"],
    ["北京", "beijing"],
  ],
  intl: [
    ["International", "intl"],
    ["Europe", "eu"],
    ["Group", "group"],
    ["Partners", "partners"],
  ],
}

const currencies: Record<Words.Locale, ReadonlyArray<readonly [string | null, number]>> = {
  de: [
    ["EUR", 80],
    ["eur", 6],
    ["USD", 5],
    ["CHF", 4],
    ["€", 1],
    [null, 2],
  ],
  ru: [
    ["RUB", 60],
    ["RUR", 15],
    ["USD", 15],
    ["EUR", 8],
    [null, 2],
  ],
  cjk: [
    ["JPY", 40],
    ["CNY", 35],
    ["USD", 20],
    ["usd", 3],
    [null, 2],
  ],
  intl: [
    ["USD", 50],
    ["GBP", 20],
    ["EUR", 20],
    ["BTC", 3],
    ["usd", 4],
    [null, 3],
  ],
}

const stageVariants: Record<string, ReadonlyArray<string>> = {
  prospect: ["Prospect", "PROSPECT"],
  qualified: ["Qualified", "qualified "],
  proposal: [" proposal", "Proposal"],
  negotiation: ["Negotiation", "negotiation "],
  won: ["Won", "WON", "won "],
  lost: ["Lost", "lost ", "LOST"],
}

const probabilities: Record<string, number> = {
  prospect: 10,
  qualified: 25,
  proposal: 50,
  negotiation: 75,
  won: 100,
  lost: 0,
  on_hold: 20,
}

/** The seed's rows and counts, computed in memory: pure and deterministic. */
export const generate = (options: {
  readonly companies: number
  readonly seed: number
}): { readonly rows: LegacyRows; readonly counts: SeedCounts } => {
  const random = Random.make(options.seed)
  const now = legacyNow.getTime()

  // Owners: the CRM's sales users; about a third have no Bitrix24 user mapped yet.
  const ownerNames: ReadonlyArray<readonly [Words.Name, Words.Name]> = [
    ...Words.firstNames.de
      .slice(0, 10)
      .map((f, i) => [f, Words.lastNames.de[i % Words.lastNames.de.length]!] as const),
    ...Words.firstNames.ru.slice(0, 5).map((f, i) => [f, Words.lastNames.ru[i]!] as const),
    ...Words.firstNames.intl.slice(0, 5).map((f, i) => [f, Words.lastNames.intl[i]!] as const),
    ...Words.firstNames.cjk.slice(0, 4).map((f, i) => [f, Words.lastNames.cjk[i]!] as const),
  ]
  const owners: Array<Mutable<Selectable<OwnersTable>>> = ownerNames.map(([first, last], i) => ({
    id: i + 1,
    email: `${first[1]}.${last[1]}@legacy-corp.example`,
    full_name: `${first[0]} ${last[0]}`,
    bitrix_user_id: i === 0 ? 1 : random.chance(0.65) ? i + 1 : null,
  }))
  const deletedOwner = owners.length + random.int(20, 80)
  const ownerId = (): number | null =>
    random.chance(0.02) ? null : random.chance(0.01) ? deletedOwner : random.pick(owners).id

  // Accounts.
  const accountIds = identities(random, options.companies)
  const accountTimes = timeline(random, options.companies, legacyStart.getTime(), now - 30 * day)
  const accountLocale: Array<Words.Locale> = []
  const accountDomain: Array<string> = []
  const accounts: Array<Mutable<Selectable<AccountsTable>>> = []
  for (let i = 0; i < options.companies; i++) {
    const locale = random.weighted(locales)
    const emoji = random.chance(0.015)
    const [stem, slug] = emoji ? random.pick(Words.emojiCompanies) : random.pick(Words.companyStems[locale])
    const qualifier = !emoji && random.chance(0.6) ? random.pick(qualifiers[locale]) : undefined
    const tld = Words.topLevelDomains[locale]
    const domain = `${slug}${qualifier === undefined ? "" : `-${qualifier[1]}`}.${tld}`
    let name = qualifier === undefined ? stem : `${stem} ${qualifier[0]}`
    // Duplicates of earlier companies, stray blanks, caps lock.
    const quirk = random.next()
    if (accounts.length > 0 && quirk < 0.02) name = random.pick(accounts).name
    else if (quirk >= 0.02 && quirk < 0.04) name = `${name} `
    else if (quirk >= 0.04 && quirk < 0.055) name = `  ${name}`
    else if (quirk >= 0.055 && quirk < 0.075) name = name.toUpperCase()
    const created = accountTimes[i]!
    const updated = updatedAfter(random, created)
    const deleted = random.chance(0.03) ? Math.min(now, updated + random.int(0, 200 * day)) : undefined
    accountLocale.push(locale)
    accountDomain.push(domain)
    accounts.push({
      id: accountIds.ids[i]!,
      name,
      legal_name: random.chance(0.65) ? random.pick(Words.legalForms[locale])(stem) : null,
      industry: random.pick(Words.industries),
      website: random.weighted<string | null>([
        [`https://www.${domain}`, 35],
        [`www.${domain}`, 20],
        [`http://${domain}/`, 10],
        [domain, 10],
        [null, 20],
        ["", 3],
        ["n/a", 2],
      ]),
      phone: random.weighted<string | null>([
        [phoneNumber(random, locale, false), 86],
        [null, 10],
        ["", 2],
        [random.pick(garbagePhones), 2],
      ]),
      vat_number:
        locale === "de"
          ? random.weighted<string | null>([
              [`DE${random.digits(9)}`, 6],
              [`DE ${random.digits(3)} ${random.digits(3)} ${random.digits(3)}`, 1],
              [null, 3],
            ])
          : locale === "ru"
            ? random.chance(0.6)
              ? random.digits(10)
              : null
            : random.chance(0.2)
              ? `${random.pick(["GB", "FR", "CHE-"])}${random.digits(9)}`
              : null,
      owner_id: ownerId(),
      created_at: new Date(created),
      updated_at: new Date(deleted ?? updated),
      deleted_at: deleted === undefined ? null : new Date(deleted),
    })
  }

  // People: each belongs to an account (a few to none) and joins some time after it was created.
  interface Draft {
    readonly account: number | undefined
    readonly at: number
  }
  const peopleWeights: ReadonlyArray<readonly [number, number]> = [
    [0, 5],
    [1, 15],
    [2, 20],
    [3, 25],
    [4, 15],
    [5, 10],
    [6, 10],
  ]
  const drafts: Array<Draft> = []
  for (let i = 0; i < accounts.length; i++) {
    const count = random.weighted(peopleWeights)
    for (let k = 0; k < count; k++) {
      const at = Math.min(accountTimes[i]! + random.int(0, 240 * day), now - 2 * day)
      drafts.push({ account: random.chance(0.03) ? undefined : i, at })
    }
  }
  drafts.sort((a, b) => a.at - b.at)
  const personTimes = ascending(drafts.map((d) => d.at))
  const personIds = identities(random, drafts.length)
  const people: Array<Mutable<Selectable<PeopleTable>>> = []
  const peopleOf: Array<Array<number>> = accounts.map(() => [])
  const knownEmails: Array<string> = []
  for (let i = 0; i < drafts.length; i++) {
    const account = drafts[i]!.account
    const locale = account === undefined ? random.weighted(locales) : accountLocale[account]!
    const first = random.pick(Words.firstNames[locale])
    const last = random.chance(0.05) ? null : random.pick(Words.lastNames[locale])
    const emails = personEmails(
      random,
      first,
      last,
      account === undefined ? undefined : accountDomain[account],
      knownEmails,
    )
    if (emails.first !== undefined && random.chance(0.3)) knownEmails.push(emails.first)
    const created = personTimes[i]!
    const id = personIds.ids[i]!
    if (account !== undefined) peopleOf[account]!.push(id)
    people.push({
      id,
      account_id: account === undefined ? null : accounts[account]!.id,
      first_name: random.chance(0.01) ? "" : random.chance(0.01) ? ` ${first[0]} ` : first[0],
      last_name: last?.[0] ?? null,
      job_title: random.weighted<string | null>([
        [random.pick(Words.jobTitles[locale]), 75],
        [null, 20],
        ["", 5],
      ]),
      phones: personPhones(random, locale),
      emails: emails.text,
      owner_id: ownerId(),
      created_at: new Date(created),
      updated_at: new Date(updatedAfter(random, created)),
    })
  }

  // Opportunities: a few per account, some time after the account was created.
  const opportunityWeights: ReadonlyArray<readonly [number, number]> = [
    [0, 15],
    [1, 25],
    [2, 25],
    [3, 20],
    [4, 15],
  ]
  const opportunityDrafts: Array<{ readonly account: number; readonly at: number }> = []
  for (let i = 0; i < accounts.length; i++) {
    const count = random.weighted(opportunityWeights)
    for (let k = 0; k < count; k++) {
      opportunityDrafts.push({
        account: i,
        at: Math.min(accountTimes[i]! + random.int(day, 500 * day), now - day),
      })
    }
  }
  opportunityDrafts.sort((a, b) => a.at - b.at)
  const opportunityTimes = ascending(opportunityDrafts.map((d) => d.at))
  const opportunityIds = identities(random, opportunityDrafts.length)
  const opportunities: Array<Mutable<Selectable<OpportunitiesTable>>> = []
  const links: Array<Selectable<OpportunityContactsTable>> = []
  for (let i = 0; i < opportunityDrafts.length; i++) {
    const index = opportunityDrafts[i]!.account
    const account = accounts[index]!
    const locale = accountLocale[index]!
    const contacts = peopleOf[index]!
    const id = opportunityIds.ids[i]!
    const created = opportunityTimes[i]!
    const primary = contacts.length > 0 && random.chance(0.85) ? random.pick(contacts) : null
    const linked = new Set<number>(primary === null ? [] : [primary])
    const extra = contacts.length > 1 ? random.int(0, 2) : 0
    for (let k = 0; k < extra; k++) linked.add(random.pick(contacts))
    for (const person of [...linked].sort((a, b) => a - b))
      links.push({ opportunity_id: id, person_id: person })
    const old = created < now - 365 * day
    const stage = old
      ? random.weighted<string>([
          ["won", 45],
          ["lost", 40],
          ["negotiation", 8],
          ["proposal", 6],
          ["on_hold", 1],
        ])
      : random.weighted<string>([
          ["prospect", 25],
          ["qualified", 20],
          ["proposal", 20],
          ["negotiation", 15],
          ["won", 10],
          ["lost", 9],
          ["on_hold", 1],
        ])
    const variants = stageVariants[stage]
    const closed = stage === "won" || stage === "lost"
    const closeAt = created + (closed ? random.int(5, 180) : random.int(14, 365)) * day
    const amount = random.weighted<string | null>([
      [(random.int(5, 500) * 100 + (random.chance(0.3) ? random.int(1, 99) / 100 : 0)).toFixed(2), 90],
      [(random.int(100_000, 2_500_000) + random.int(0, 99) / 100).toFixed(2), 3],
      ["0.00", 2],
      [null, 5],
    ])
    const shortName = account.name.trim().split(" ")[0]!
    opportunities.push({
      id,
      account_id: account.id,
      primary_contact_id: primary,
      title: random.weighted<string | null>([
        [`${random.pick(Words.products)} ${new Date(created).getUTCFullYear()}`, 45],
        [`${random.pick(Words.products)} – ${shortName}`, 30],
        [`${account.name.trim()}: ${random.pick(Words.products)}`, 20],
        ["", 3],
        [null, 2],
      ]),
      amount,
      currency: random.weighted(currencies[locale]),
      stage: variants !== undefined && random.chance(0.05) ? random.pick(variants) : stage,
      probability: random.chance(0.1)
        ? null
        : random.chance(0.03)
          ? random.int(0, 100)
          : (probabilities[stage] ?? 0),
      close_date: random.chance(0.08) ? null : isoDate(closed ? Math.min(closeAt, now) : closeAt),
      owner_id: random.chance(0.7) ? account.owner_id : ownerId(),
      notes: random.chance(0.55)
        ? null
        : random.chance(0.2)
          ? `${random.pick(Words.notes)}\n${random.pick(Words.notes)}`
          : random.pick(Words.notes),
      created_at: new Date(created),
      updated_at: new Date(
        closed ? Math.max(created, Math.min(closeAt, now)) : updatedAfter(random, created),
      ),
    })
  }

  // A few orphaned references, as years of hard deletes and imports leave them.
  const lastAccount = accounts[accounts.length - 1]?.id ?? 0
  const lastPerson = people[people.length - 1]?.id ?? 0
  const few = (count: number, share: number) => Math.min(count, Math.max(1, Math.round(count * share)))
  const withAccount = people.filter((p) => p.account_id !== null)
  for (const i of random.sample(withAccount.length, few(withAccount.length, 0.01))) {
    withAccount[i]!.account_id = missingId(random, accountIds.gaps, lastAccount)
  }
  for (const i of random.sample(opportunities.length, few(opportunities.length, 0.005))) {
    opportunities[i]!.account_id = missingId(random, accountIds.gaps, lastAccount)
  }
  for (const i of random.sample(opportunities.length, few(opportunities.length, 0.01))) {
    opportunities[i]!.primary_contact_id = missingId(random, personIds.gaps, lastPerson)
  }
  if (opportunities.length > 0 && people.length > 0) {
    for (const i of random.sample(opportunities.length, few(links.length, 0.005))) {
      const opportunity = opportunities[i]!.id
      const person = missingId(random, personIds.gaps, lastPerson)
      if (!links.some((l) => l.opportunity_id === opportunity && l.person_id === person)) {
        links.push({ opportunity_id: opportunity, person_id: person })
      }
    }
  }
  links.sort((a, b) => a.opportunity_id - b.opportunity_id || a.person_id - b.person_id)

  const accountSet = new Set(accounts.map((a) => a.id))
  const personSet = new Set(people.map((p) => p.id))
  const ownerSet = new Set(owners.map((o) => o.id))
  const missing = (set: ReadonlySet<number>) => (id: number | null) => id !== null && !set.has(id)
  const rows: LegacyRows = { owners, accounts, people, opportunities, opportunity_contacts: links }
  const counts: SeedCounts = {
    owners: owners.length,
    companies: accounts.length,
    softDeletedCompanies: accounts.filter((a) => a.deleted_at !== null).length,
    people: people.length,
    opportunities: opportunities.length,
    opportunityContacts: links.length,
    orphans: {
      peopleAccount: people.filter((p) => missing(accountSet)(p.account_id)).length,
      opportunityAccount: opportunities.filter((o) => missing(accountSet)(o.account_id)).length,
      opportunityPrimaryContact: opportunities.filter((o) => missing(personSet)(o.primary_contact_id)).length,
      opportunityContact: links.filter((l) => missing(personSet)(l.person_id)).length,
      owner: [...accounts, ...people, ...opportunities].filter((r) => missing(ownerSet)(r.owner_id)).length,
    },
  }
  return { rows, counts }
}

class NotEmpty {
  constructor(readonly table: string) {}
}

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

const insertAll = async (
  db: Kysely<LegacyDatabase>,
  dialect: LegacyDialect,
  rows: LegacyRows,
  chunkSize: number,
) => {
  for (const chunk of chunks(rows.owners, chunkSize)) await db.insertInto("owners").values(chunk).execute()
  for (const chunk of chunks(rows.accounts, chunkSize))
    await db.insertInto("accounts").values(chunk).execute()
  for (const chunk of chunks(rows.people, chunkSize)) await db.insertInto("people").values(chunk).execute()
  for (const chunk of chunks(rows.opportunities, chunkSize)) {
    await db.insertInto("opportunities").values(chunk).execute()
  }
  for (const chunk of chunks(rows.opportunity_contacts, chunkSize)) {
    await db.insertInto("opportunity_contacts").values(chunk).execute()
  }
  if (dialect === "postgres") {
    // Rows were inserted with their ids: move the serial sequences past them.
    for (const table of ["owners", "accounts", "people", "opportunities"] as const) {
      await sql`SELECT setval(pg_get_serial_sequence(${table}, 'id'), coalesce((SELECT max(id) FROM ${sql.table(table)}), 0) + 1, false)`.execute(
        db,
      )
    }
  }
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * Creates the legacy schema if needed and fills it with `generate`'s rows in one transaction
 * (multi-row inserts in chunks), then records the seed in `demo_seed`. Fails on a database that
 * already holds legacy data unless `reset` is set.
 */
export const seed = (
  db: Kysely<LegacyDatabase>,
  dialect: LegacyDialect,
  options: SeedOptions = {},
): Effect.Effect<SeedCounts, LegacyDatabaseError> =>
  Effect.gen(function* () {
    const companies = options.companies ?? 1000
    const seedValue = options.seed ?? 1
    const operation = `seeding the legacy database (${companies} companies, seed ${seedValue})`
    if (!Number.isInteger(companies) || companies < 0) {
      return yield* new LegacyDatabaseError({
        operation,
        message: `${operation}: companies must be a whole number >= 0, got ${companies}`,
      })
    }
    const seededAt = new Date(yield* Clock.currentTimeMillis)
    return yield* Effect.tryPromise({
      try: async () => {
        if (options.reset === true) await dropTables(db)
        await createTables(db, dialect)
        for (const table of [...dataTables, "demo_seed"] as const) {
          const any = await db.selectFrom(table).select(sql<number>`1`.as("one")).limit(1).execute()
          if (any.length > 0) throw new NotEmpty(table)
        }
        const { rows, counts } = generate({ companies, seed: seedValue })
        await db.transaction().execute(async (trx) => {
          await insertAll(trx, dialect, rows, options.chunkSize ?? 500)
          await trx
            .insertInto("demo_seed")
            .values({
              id: 1,
              seed: seedValue,
              companies,
              counts: JSON.stringify(counts),
              seeded_at: seededAt,
            })
            .execute()
        })
        return counts
      },
      catch: (cause) =>
        new LegacyDatabaseError({
          operation,
          message:
            cause instanceof NotEmpty
              ? `${operation}: table ${cause.table} already holds rows; reset the legacy database first (seed with reset)`
              : `${operation}: ${describe(cause)}`,
          cause,
        }),
    })
  })

/** Drops the legacy tables and creates them again, empty. */
export const reset = (
  db: Kysely<LegacyDatabase>,
  dialect: LegacyDialect,
): Effect.Effect<void, LegacyDatabaseError> =>
  Effect.tryPromise({
    try: async () => {
      await dropTables(db)
      await createTables(db, dialect)
    },
    catch: (cause) =>
      new LegacyDatabaseError({
        operation: "resetting the legacy database",
        message: `resetting the legacy database: ${describe(cause)}`,
        cause,
      }),
  })

/** The seed recorded in the database, or `undefined` when it was never seeded. */
export const readSeedMarker = (
  db: Kysely<LegacyDatabase>,
  dialect: LegacyDialect,
): Effect.Effect<SeedMarker | undefined, LegacyDatabaseError> =>
  Effect.tryPromise({
    try: async () => {
      if (!(await existingTables(db, dialect)).has("demo_seed")) return undefined
      const row = await db.selectFrom("demo_seed").selectAll().where("id", "=", 1).executeTakeFirst()
      if (row === undefined) return undefined
      return {
        seed: row.seed,
        companies: row.companies,
        counts: JSON.parse(row.counts) as SeedCounts,
        seededAt: new Date(row.seeded_at),
      }
    },
    catch: (cause) =>
      new LegacyDatabaseError({
        operation: "reading the seed marker",
        message: `reading the seed marker: ${describe(cause)}`,
        cause,
      }),
  })
