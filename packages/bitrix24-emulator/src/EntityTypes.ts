/**
 * The CRM entity types a portal knows (lead, deal, contact, company, quote, invoice and configured
 * smart processes), with the field descriptions `crm.item.fields` returns.
 */

/** A field as `crm.item.fields` describes it. */
export interface FieldDescription {
  readonly name: string
  readonly type: string
  readonly title: string
  readonly upperName: string
  readonly isRequired: boolean
  readonly isReadOnly: boolean
  readonly isImmutable: boolean
  readonly isMultiple: boolean
  readonly isDynamic: boolean
  /** For link fields: the entityTypeId the value must point to. */
  readonly linkTo?: number
  /** `crm_multifield` fields (PHONE, EMAIL, WEB, IM). */
  readonly isMultiField?: boolean
  /** System fields only an administrator may set on import (createdTime, createdBy...). */
  readonly isImportHistory?: boolean
  readonly items?: ReadonlyArray<{ readonly ID: string; readonly VALUE: string }>
  readonly settings?: Record<string, unknown>
}

/** A user field (`ufCrm...`) to configure on a type. */
export interface UserFieldConfig {
  /** camelCase name, e.g. `ufCrm44_1721812760630` or `ufCrm_1721244707107`. */
  readonly name: string
  /** Original name; derived from `name` when omitted (`UF_CRM_44_1721812760630`). */
  readonly upperName?: string
  /** string, integer, double, boolean, date, datetime, enumeration, url, file, money, employee, crm... */
  readonly type: string
  readonly title?: string
  readonly isMultiple?: boolean
  readonly isRequired?: boolean
  readonly items?: ReadonlyArray<{ readonly ID: string; readonly VALUE: string }>
  readonly settings?: Record<string, unknown>
}

/** A type to add (a smart process) or to extend (a system type, matched by entityTypeId). */
export interface EntityTypeConfig {
  readonly entityTypeId: number
  /** For smart processes: the name used in default titles ("HR #13"). */
  readonly title?: string
  readonly userFields?: ReadonlyArray<UserFieldConfig>
  /** Parent types: each adds a `parentId{N}` link field. */
  readonly parents?: ReadonlyArray<number>
  /** System fields to make required (e.g. `["title"]`), answering `CRM_FIELD_ERROR_REQUIRED`. */
  readonly required?: ReadonlyArray<string>
}

/** A resolved type. */
export interface EntityType {
  readonly entityTypeId: number
  readonly name: string
  readonly title: string
  readonly isDynamic: boolean
  readonly fields: ReadonlyMap<string, FieldDescription>
  /** upperName → camelCase name, for `useOriginalUfNames=Y` and upper-case input. */
  readonly byUpperName: ReadonlyMap<string, string>
  readonly parents: ReadonlyArray<number>
}

/** Phone types the vendor documents for import. */
export const multiFieldValueTypes: Readonly<Record<string, ReadonlyArray<string>>> = {
  PHONE: ["WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"],
  EMAIL: ["WORK", "HOME", "MAILING", "OTHER"],
  WEB: ["WORK", "HOME", "FACEBOOK", "VK", "LIVEJOURNAL", "TWITTER", "OTHER"],
  IM: [
    "FACEBOOK",
    "TELEGRAM",
    "VK",
    "SKYPE",
    "VIBER",
    "INSTAGRAM",
    "BITRIX24",
    "OPENLINE",
    "IMOL",
    "ICQ",
    "MSN",
    "JABBER",
    "OTHER",
  ],
}

export const LEAD = 1
export const DEAL = 2
export const CONTACT = 3
export const COMPANY = 4
export const QUOTE = 7
export const INVOICE = 31

type Spec = readonly [name: string, type: string, title: string, extra?: Partial<FieldDescription>]

const camelToUpper = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()

/** `ufCrm44_1721812760630` → `UF_CRM_44_1721812760630`; `ufCrm_1721244707107` → `UF_CRM_1721244707107`. */
export const userFieldUpperName = (name: string): string => {
  const rest = name.replace(/^ufCrm_?/, "")
  return `UF_CRM_${rest.toUpperCase()}`
}

const field = ([name, type, title, extra]: Spec): FieldDescription => ({
  name,
  type,
  title,
  upperName: camelToUpper(name),
  isRequired: false,
  isReadOnly: false,
  isImmutable: false,
  isMultiple: false,
  isDynamic: false,
  ...extra,
})

const ro = { isReadOnly: true } as const
const multi = { isMultiple: true } as const
const history = { isReadOnly: true, isImportHistory: true } as const

const idField: Spec = ["id", "integer", "ID", ro]
const system: ReadonlyArray<Spec> = [
  ["createdBy", "user", "Created by", history],
  ["updatedBy", "user", "Modified by", history],
  ["movedBy", "user", "Stage changed by", history],
  ["createdTime", "datetime", "Created on", history],
  ["updatedTime", "datetime", "Modified on", history],
  ["movedTime", "datetime", "Stage changed on", history],
]
const utm: ReadonlyArray<Spec> = [
  ["utmSource", "string", "Ad system"],
  ["utmMedium", "string", "Medium"],
  ["utmCampaign", "string", "Ad campaign UTM"],
  ["utmContent", "string", "Campaign contents"],
  ["utmTerm", "string", "Campaign search term"],
]
const money: ReadonlyArray<Spec> = [
  ["currencyId", "crm_currency", "Currency"],
  ["isManualOpportunity", "boolean", "Manual calculation mode"],
  ["opportunity", "double", "Amount"],
  ["taxValue", "double", "Tax amount"],
]
const client: ReadonlyArray<Spec> = [
  ["companyId", "crm_company", "Company", { linkTo: COMPANY }],
  ["contactId", "crm_contact", "Contact", { linkTo: CONTACT }],
  ["contactIds", "crm_contact", "Contacts", { linkTo: CONTACT, isMultiple: true }],
]
const origin: ReadonlyArray<Spec> = [
  ["originatorId", "string", "External source"],
  ["originId", "string", "Item ID in data source"],
]
const common: ReadonlyArray<Spec> = [
  ["opened", "boolean", "Available to everyone"],
  ["comments", "text", "Comment"],
  ["assignedById", "user", "Responsible person"],
  ["observers", "user", "Observers", multi],
]
const multiFields: ReadonlyArray<Spec> = ["PHONE", "EMAIL", "WEB", "IM"].map(
  (name): Spec => [
    name,
    "crm_multifield",
    { PHONE: "Phone", EMAIL: "E-mail", WEB: "Website", IM: "Messenger" }[name]!,
    { isMultiple: true, isMultiField: true },
  ],
)
const person: ReadonlyArray<Spec> = [
  ["honorific", "crm_status", "Salutation"],
  ["name", "string", "First name"],
  ["secondName", "string", "Second name"],
  ["lastName", "string", "Last name"],
  ["birthdate", "date", "Date of birth"],
  ["post", "string", "Position"],
]
const source: ReadonlyArray<Spec> = [
  ["sourceId", "crm_status", "Source"],
  ["sourceDescription", "text", "Source information"],
]
const dates: ReadonlyArray<Spec> = [
  ["begindate", "date", "Start date"],
  ["closedate", "date", "End date"],
]

const systemSpecs: Readonly<Record<number, { name: string; title: string; specs: ReadonlyArray<Spec> }>> = {
  [LEAD]: {
    name: "LEAD",
    title: "Lead",
    specs: [
      idField,
      ["title", "string", "Lead name"],
      ...person,
      ["companyTitle", "string", "Company name"],
      ...source,
      ["stageId", "crm_status", "Stage"],
      ["statusDescription", "text", "Stage information"],
      ...money,
      ...common,
      ...client,
      ...origin,
      ["webformId", "integer", "Created by CRM form"],
      ...utm,
      ...system,
      ...multiFields,
    ],
  },
  [DEAL]: {
    name: "DEAL",
    title: "Deal",
    specs: [
      idField,
      ["title", "string", "Title"],
      ["typeId", "crm_status", "Type"],
      ["categoryId", "crm_category", "Pipeline"],
      ["stageId", "crm_status", "Stage"],
      ["isRecurring", "boolean", "Recurring deal"],
      ["probability", "integer", "Probability"],
      ...money,
      ...client,
      ["quoteId", "crm_quote", "Quote"],
      ...dates,
      ...common,
      ...source,
      ["leadId", "crm_lead", "Lead"],
      ["additionalInfo", "string", "Additional information"],
      ...origin,
      ["locationId", "location", "Location"],
      ...utm,
      ...system,
    ],
  },
  [CONTACT]: {
    name: "CONTACT",
    title: "Contact",
    specs: [
      idField,
      ...person,
      ["photo", "file", "Photo"],
      ["typeId", "crm_status", "Contact type"],
      ...source,
      ...common,
      ["export", "boolean", "Included in export"],
      ["companyId", "crm_company", "Company", { linkTo: COMPANY }],
      ["companyIds", "crm_company", "Companies", { linkTo: COMPANY, isMultiple: true }],
      ["leadId", "crm_lead", "Lead"],
      ...origin,
      ["originVersion", "string", "Original version"],
      ...utm,
      ...system,
      ...multiFields,
    ],
  },
  [COMPANY]: {
    name: "COMPANY",
    title: "Company",
    specs: [
      idField,
      ["title", "string", "Company name"],
      ["typeId", "crm_status", "Company type"],
      ["logo", "file", "Logo"],
      ["bankingDetails", "text", "Payment details"],
      ["industry", "crm_status", "Industry"],
      ["employees", "crm_status", "Employees"],
      ["currencyId", "crm_currency", "Currency"],
      ["revenue", "double", "Annual revenue"],
      ...common,
      ["isMyCompany", "boolean", "My company"],
      ["contactIds", "crm_contact", "Contacts", { linkTo: CONTACT, isMultiple: true }],
      ["leadId", "crm_lead", "Lead"],
      ...origin,
      ["originVersion", "string", "Original version"],
      ...utm,
      ...system,
      ...multiFields,
    ],
  },
  [QUOTE]: {
    name: "QUOTE",
    title: "Estimate",
    specs: [
      idField,
      ["title", "string", "Title"],
      ["stageId", "crm_status", "Stage"],
      ...money,
      ...client,
      ["dealId", "crm_deal", "Deal"],
      ["leadId", "crm_lead", "Lead"],
      ["content", "text", "Content"],
      ["terms", "text", "Terms"],
      ...dates,
      ["actualDate", "date", "Valid until"],
      ["mycompanyId", "crm_company", "Your company details"],
      ["webformId", "integer", "Created by CRM form"],
      ["locationId", "location", "Location"],
      ...common,
      ...utm,
      ...system,
    ],
  },
  [INVOICE]: {
    name: "SMART_INVOICE",
    title: "Invoice",
    specs: [
      idField,
      ["xmlId", "string", "External ID"],
      ["title", "string", "Title"],
      ["categoryId", "crm_category", "Pipeline"],
      ["stageId", "crm_status", "Stage"],
      ...money,
      ...client,
      ...dates,
      ["mycompanyId", "crm_company", "Your company details"],
      ["webformId", "integer", "Created by CRM form"],
      ["locationId", "location", "Location"],
      ...source,
      ...common,
      ...system,
    ],
  },
}

const dynamicSpecs: ReadonlyArray<Spec> = [
  idField,
  ["xmlId", "string", "External ID"],
  ["title", "string", "Title"],
  ["categoryId", "crm_category", "Pipeline"],
  ["stageId", "crm_status", "Stage"],
  ...money,
  ...client,
  ...dates,
  ["mycompanyId", "crm_company", "Your company details"],
  ["webformId", "integer", "Created by CRM form"],
  ...source,
  ...common,
  ...system,
]

/** entityTypeIds of the system types. */
export const systemTypeIds: ReadonlyArray<number> = [LEAD, DEAL, CONTACT, COMPANY, QUOTE, INVOICE]

const parentField = (parent: number, types: ReadonlyMap<number, { title: string }>): FieldDescription =>
  field([
    `parentId${parent}`,
    "crm_entity",
    types.get(parent)?.title ?? `Parent ${parent}`,
    { linkTo: parent, upperName: `PARENT_ID_${parent}` },
  ])

const userField = (uf: UserFieldConfig): FieldDescription => ({
  name: uf.name,
  type: uf.type,
  title: uf.title ?? uf.name,
  upperName: uf.upperName ?? userFieldUpperName(uf.name),
  isRequired: uf.isRequired ?? false,
  isReadOnly: false,
  isImmutable: false,
  isMultiple: uf.isMultiple ?? false,
  isDynamic: true,
  ...(uf.items === undefined ? {} : { items: uf.items }),
  ...(uf.settings === undefined ? {} : { settings: uf.settings }),
})

/**
 * Resolves the portal's types: the six system types, extended or joined by `configs`
 * (a config whose entityTypeId is not a system type defines a smart process).
 */
export const resolve = (configs: ReadonlyArray<EntityTypeConfig> = []): ReadonlyMap<number, EntityType> => {
  const byId = new Map<number, EntityTypeConfig>()
  for (const c of configs) byId.set(c.entityTypeId, c)
  const titles = new Map<number, { title: string }>()
  for (const id of systemTypeIds) titles.set(id, { title: systemSpecs[id]!.title })
  for (const c of configs) {
    if (!titles.has(c.entityTypeId)) titles.set(c.entityTypeId, { title: c.title ?? `SPA ${c.entityTypeId}` })
  }
  const result = new Map<number, EntityType>()
  const ids = [...systemTypeIds, ...configs.map((c) => c.entityTypeId).filter((id) => !systemSpecs[id])]
  for (const id of ids) {
    const config = byId.get(id)
    const sys = systemSpecs[id]
    const required = new Set(config?.required ?? [])
    const fields = new Map<string, FieldDescription>()
    for (const spec of sys?.specs ?? dynamicSpecs) {
      const f = field(spec)
      fields.set(f.name, required.has(f.name) ? { ...f, isRequired: true } : f)
    }
    for (const parent of config?.parents ?? []) {
      const f = parentField(parent, titles)
      fields.set(f.name, f)
    }
    for (const uf of config?.userFields ?? []) {
      const f = userField(uf)
      fields.set(f.name, f)
    }
    const byUpperName = new Map<string, string>()
    for (const f of fields.values()) byUpperName.set(f.upperName, f.name)
    result.set(id, {
      entityTypeId: id,
      name: sys?.name ?? `DYNAMIC_${id}`,
      title: titles.get(id)!.title,
      isDynamic: sys === undefined,
      fields,
      byUpperName,
      parents: config?.parents ?? [],
    })
  }
  return result
}

/** The field description as `crm.item.fields` shows it (the vendor's key order, labels on user fields). */
export const describe = (f: FieldDescription): Record<string, unknown> => ({
  type: f.type,
  isRequired: f.isRequired,
  isReadOnly: f.isReadOnly,
  isImmutable: f.isImmutable,
  isMultiple: f.isMultiple,
  isDynamic: f.isDynamic,
  ...(f.items === undefined ? {} : { items: f.items }),
  title: f.title,
  ...(f.isDynamic ? { listLabel: f.title, formLabel: f.title, filterLabel: f.title } : {}),
  ...(f.settings === undefined ? {} : { settings: f.settings }),
  upperName: f.upperName,
})

/**
 * The types used by the vendor's request examples: the deal user field `ufCrm_1721244707107`,
 * the smart process 1220 as a parent of deals, and the smart process 1302 with the eight user fields
 * of the "SPA with a set of custom fields" example.
 */
export const documentationExamples: ReadonlyArray<EntityTypeConfig> = [
  {
    entityTypeId: DEAL,
    parents: [1220],
    userFields: [{ name: "ufCrm_1721244707107", type: "double", title: "Custom field (number)" }],
  },
  { entityTypeId: 1220, title: "Projects" },
  {
    entityTypeId: 1302,
    title: "Custom SPA",
    userFields: [
      { name: "ufCrm44_1721812760630", type: "string", title: "Custom field (string)" },
      {
        name: "ufCrm44_1721812814433",
        type: "enumeration",
        title: "Custom field (list)",
        items: [
          { ID: "79", VALUE: "List item #1" },
          { ID: "80", VALUE: "List item #2" },
          { ID: "81", VALUE: "List item #3" },
          { ID: "82", VALUE: "List item #4" },
        ],
      },
      { name: "ufCrm44_1721812853419", type: "date", title: "Custom field (date)" },
      { name: "ufCrm44_1721812885588", type: "url", title: "Multiple custom field (link)", isMultiple: true },
      { name: "ufCrm44_1721812898903", type: "file", title: "Custom field (file)" },
      { name: "ufCrm44_1721812915476", type: "money", title: "Custom field (money)" },
      { name: "ufCrm44_1721812935209", type: "boolean", title: "Custom field (Yes/No)" },
      { name: "ufCrm44_1721812948498", type: "double", title: "Custom field (number)" },
    ],
  },
]
