/**
 * Pure helpers the legacy pipeline's mapping uses to turn legacy values into what Bitrix24's
 * `crm.item.import` expects: multi-fields (`PHONE`, `EMAIL`) as `{ VALUE, VALUE_TYPE }` lists,
 * deal stages, ISO currencies and responsible users.
 */

import * as Dropped from "@b24etl/core/Dropped"

/** Phone types Bitrix24 accepts. */
export type PhoneType = "WORK" | "MOBILE" | "FAX" | "HOME" | "PAGER" | "MAILING" | "OTHER"
/** E-mail types Bitrix24 accepts. */
export type EmailType = "WORK" | "HOME" | "MAILING" | "OTHER"

export interface MultiField<Type extends string> {
  readonly VALUE: string
  readonly VALUE_TYPE: Type
}

export interface PhoneOptions {
  /** The country calling code for national numbers (`030 1234567`), without `+`. Default `49`. */
  readonly defaultCountryCode?: string | undefined
  /** The type of a number without a hint. Default `WORK`. */
  readonly defaultType?: PhoneType | undefined
}

// Each hint is a whole word (not followed by a letter), before `:`, `.`, a space or the number.
const hints: ReadonlyArray<readonly [RegExp, PhoneType]> = [
  [/^(?:mobile|mobil|mob\.?|handy|cellphone|cellular|cell|мобильный|моб\.?|сот\.?)(?!\p{L})/iu, "MOBILE"],
  [/^(?:telefax|fax|факс)(?!\p{L})/iu, "FAX"],
  [/^(?:home|privat|private|домашний|дом\.?)(?!\p{L})/iu, "HOME"],
  [/^pager(?!\p{L})/iu, "PAGER"],
  [/^(?:other|sonstige|andere|alt\.?|доп\.?)(?!\p{L})/iu, "OTHER"],
  [/^(?:work|office|büro|buero|zentrale|telefon|phone|tel\.?|рабочий|раб\.?|тел\.?)(?!\p{L})/iu, "WORK"],
]

const hint = (text: string): { readonly type: PhoneType | undefined; readonly rest: string } => {
  for (const [pattern, type] of hints) {
    const match = pattern.exec(text)
    if (match !== null) return { type, rest: text.slice(match[0].length).replace(/^\s*[:.]?\s*/u, "") }
  }
  const suffix = /\s*\(([^()]*)\)\s*$/u.exec(text)
  if (suffix !== null && /\p{L}/u.test(suffix[1]!)) {
    // "0171 2345678 (mobil)" or "+49 30 1234567 (Zentrale)": a hint or a remark after the number.
    return { type: hint(suffix[1]!.trim()).type, rest: text.slice(0, suffix.index) }
  }
  return { type: undefined, rest: text }
}

const extension =
  /(?:^|\s)(?:ext\.?|extension|доб\.?|durchwahl|dw\.?)\s*:?\s*(\d{1,6})\s*$|\s*x\s*(\d{1,6})\s*$/iu

const looksMobile = (e164: string): boolean => /^\+49(?:15|16|17)\d/.test(e164) || /^\+79\d{9}$/.test(e164)

/** One number in E.164 form where the text allows it, `undefined` for garbage. */
const normalizeNumber = (text: string, countryCode: string): string | undefined => {
  const found = /\+?[\d(][\d\s\-()/.]*\d/u.exec(text)
  if (found === null) return undefined
  // Letters around the number (besides hints and extensions, already removed) mean it is prose.
  if (/\p{L}/u.test(text.replace(found[0], ""))) return undefined
  const raw = found[0].trim()
  const international = raw.startsWith("+")
  const digits = (international ? raw.replace(/\(0\)/g, "") : raw).replace(/\D/g, "")
  if (/^0*$/.test(digits)) return undefined
  let e164: string
  if (international) e164 = `+${digits}`
  else if (digits.startsWith("00")) e164 = `+${digits.slice(2)}`
  // A Russian national number with the old trunk prefix 8: `8 (495) 123-45-67`.
  else if (digits.length === 11 && digits.startsWith("8")) e164 = `+7${digits.slice(1)}`
  else if (digits.startsWith("0") && countryCode !== "") e164 = `+${countryCode}${digits.slice(1)}`
  // A local number without area code: keep its digits, the country cannot be told.
  else return digits.length >= 5 && digits.length <= 15 ? digits : undefined
  const length = e164.length - 1
  return length >= 7 && length <= 15 ? e164 : undefined
}

/**
 * Parses a legacy phone field holding one or several numbers
 * (`"+49 30 1234567; mobile: 0171/2345678"`, `"(030) 123-45-67"`, `"8 (495) 123-45-67 доб. 12"`)
 * into Bitrix24 `PHONE` values: numbers in E.164 form where possible (`+49301234567`), an
 * extension kept as ` ext. 12`, types from hints (`mobile:`, `fax:`, `home:`), duplicates and
 * garbage (`n/a`, `-`, `000`) dropped; what was dropped is attached (`Dropped.of`) for the report.
 */
export const parsePhones = (
  text: string | null | undefined,
  options: PhoneOptions = {},
): Array<MultiField<PhoneType>> => {
  if (text === null || text === undefined) return []
  const countryCode = options.defaultCountryCode ?? "49"
  const out: Array<MultiField<PhoneType>> = []
  const dropped: Array<Dropped.DroppedValue> = []
  const seen = new Set<string>()
  for (const part of text.split(/[;\n\r|,]+|\s+\/\s+/u)) {
    if (part.trim() === "") continue
    const { type, rest } = hint(part.trim())
    const ext = extension.exec(rest)
    const number = normalizeNumber(ext === null ? rest : rest.slice(0, ext.index), countryCode)
    if (number === undefined) {
      dropped.push({ value: part.trim(), reason: "invalid" })
      continue
    }
    const value = ext === null ? number : `${number} ext. ${ext[1] ?? ext[2]}`
    if (seen.has(value)) {
      dropped.push({ value: part.trim(), reason: "duplicate" })
      continue
    }
    seen.add(value)
    out.push({
      VALUE: value,
      VALUE_TYPE: type ?? (looksMobile(number) ? "MOBILE" : (options.defaultType ?? "WORK")),
    })
  }
  // What was left out rides along, so the run report counts it (`pipeline failures --warnings`).
  return Dropped.attach(out, dropped)
}

const emailPattern = /^[^\s@()<>,;:"[\]\\]+@(?:[^\s@()<>,;:"[\]\\.]+\.)+[^\s@()<>,;:"[\]\\.\d]{2,}$/u

/** A valid-looking address, lower case, or `undefined`. */
const normalizeEmail = (text: string): string | undefined => {
  const address = text
    .trim()
    .replace(/^mailto:/iu, "")
    .replace(/^["'(]+|["')]+$/gu, "")
    .toLowerCase()
  const local = address.split("@")[0] ?? ""
  if (!emailPattern.test(address) || local.startsWith(".") || local.endsWith(".") || address.includes("..")) {
    return undefined
  }
  return address
}

/**
 * Parses a legacy e-mail field (`"a@x.de, A@X.de; Max <max@x.de>; n/a"`) into Bitrix24 `EMAIL`
 * values: lower case, deduplicated, invalid ones (`max@`, `office(at)x.de`, `n/a`) dropped; what was dropped is attached
 * (`Dropped.of`) for the report.
 */
export const parseEmails = (
  text: string | null | undefined,
  type: EmailType = "WORK",
): Array<MultiField<EmailType>> => {
  if (text === null || text === undefined) return []
  const out: Array<MultiField<EmailType>> = []
  const dropped: Array<Dropped.DroppedValue> = []
  const seen = new Set<string>()
  for (const part of text.split(/[,;\n\r]+/u)) {
    const piece = part.trim()
    if (piece === "") continue
    const bracketed = /<([^<>]+)>/u.exec(piece)
    // "a@x.de b@y.de" lists addresses; "max mueller@x.de" is one broken address, not "mueller@x.de".
    const words = piece.split(/\s+/u)
    const candidates =
      bracketed !== null ? [bracketed[1]!] : words.every((w) => w.includes("@")) ? words : [piece]
    for (const candidate of candidates) {
      const address = normalizeEmail(candidate)
      if (address === undefined || seen.has(address)) {
        dropped.push({ value: candidate, reason: address === undefined ? "invalid" : "duplicate" })
        continue
      }
      seen.add(address)
      out.push({ VALUE: address, VALUE_TYPE: type })
    }
  }
  return Dropped.attach(out, dropped)
}

/** The legacy CRM's opportunity stages. */
export type LegacyStage = "prospect" | "qualified" | "proposal" | "negotiation" | "won" | "lost"

/** The default deal funnel's stage ids in Bitrix24. */
export type DealStageId = "NEW" | "PREPARATION" | "PREPAYMENT_INVOICE" | "EXECUTING" | "WON" | "LOSE"

/** Legacy stage -> Bitrix24 deal `stageId` (default funnel). */
export const stageMap: Readonly<Record<LegacyStage, DealStageId>> = {
  prospect: "NEW",
  qualified: "PREPARATION",
  proposal: "PREPAYMENT_INVOICE",
  negotiation: "EXECUTING",
  won: "WON",
  lost: "LOSE",
}

/** A mapped value, with a note when the legacy value could not be kept as it was. */
export interface Mapped<A> {
  readonly value: A
  readonly note?: string | undefined
}

const isLegacyStage = (stage: string): stage is LegacyStage => Object.hasOwn(stageMap, stage)

/**
 * The deal `stageId` for a legacy stage, ignoring case and surrounding spaces (`"Won "` -> `WON`).
 * An unknown or empty stage maps to `fallback` (default `NEW`) with a note.
 */
export const toStageId = (
  stage: string | null | undefined,
  fallback: DealStageId = "NEW",
): Mapped<DealStageId> => {
  const code = (stage ?? "").trim().toLowerCase()
  if (isLegacyStage(code)) return { value: stageMap[code] }
  return {
    value: fallback,
    note: `unknown legacy stage ${JSON.stringify(stage ?? null)}; mapped to ${fallback}`,
  }
}

const isoCurrencies: ReadonlySet<string> = new Set(Intl.supportedValuesOf("currency"))

const currencyAliases: Readonly<Record<string, string>> = {
  RUR: "RUB",
  "€": "EUR",
  EURO: "EUR",
  $: "USD",
  US$: "USD",
  "£": "GBP",
  РУБ: "RUB",
  "₽": "RUB",
}

/**
 * An ISO 4217 currency code for a legacy one: trimmed and upper-cased (`"eur"` -> `EUR`), legacy
 * codes and symbols replaced (`RUR` -> `RUB`, `€` -> `EUR`, with a note), anything else unknown
 * or missing -> `fallback` (default `EUR`) with a note.
 */
export const normalizeCurrency = (code: string | null | undefined, fallback = "EUR"): Mapped<string> => {
  const text = (code ?? "").trim()
  if (text === "") return { value: fallback, note: `no currency; using ${fallback}` }
  const upper = text.toUpperCase()
  const alias = currencyAliases[upper]
  if (alias !== undefined) return { value: alias, note: `currency ${JSON.stringify(text)} read as ${alias}` }
  if (/^[A-Z]{3}$/.test(upper) && isoCurrencies.has(upper)) return { value: upper }
  return { value: fallback, note: `unknown currency ${JSON.stringify(text)}; using ${fallback}` }
}

/** A legacy owner, as far as the mapping needs it. */
export interface Owner {
  readonly bitrix_user_id: number | null
}

/** The Bitrix24 user responsible for a record: the owner's mapped user, else `defaultUserId` (1). */
export const ownerToUser = (owner: Owner | null | undefined, defaultUserId = 1): number =>
  owner?.bitrix_user_id ?? defaultUserId
