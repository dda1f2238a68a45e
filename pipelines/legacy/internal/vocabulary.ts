/**
 * Words the seed draws from: names in German, Russian, Japanese/Chinese and other spellings, each
 * with the ASCII form an e-mail address or a domain would use.
 */

export type Locale = "de" | "ru" | "cjk" | "intl"

/** `[as written, as in an e-mail address]` */
export type Name = readonly [display: string, ascii: string]

export const firstNames: Record<Locale, ReadonlyArray<Name>> = {
  de: [
    ["Jürgen", "juergen"],
    ["Björn", "bjoern"],
    ["Sören", "soeren"],
    ["Jörg", "joerg"],
    ["Käthe", "kaethe"],
    ["Anna", "anna"],
    ["Max", "max"],
    ["Lena", "lena"],
    ["Stefan", "stefan"],
    ["Sabine", "sabine"],
    ["Thomas", "thomas"],
    ["Julia", "julia"],
    ["Matthias", "matthias"],
    ["Katrin", "katrin"],
    ["Hans-Peter", "hans-peter"],
    ["Änne", "aenne"],
  ],
  ru: [
    ["Алексей", "aleksey"],
    ["Наталья", "natalya"],
    ["Дмитрий", "dmitriy"],
    ["Ольга", "olga"],
    ["Сергей", "sergey"],
    ["Екатерина", "ekaterina"],
    ["Юлия", "yuliya"],
    ["Пётр", "pyotr"],
  ],
  cjk: [
    ["太郎", "taro"],
    ["花子", "hanako"],
    ["翔太", "shota"],
    ["さくら", "sakura"],
    ["伟", "wei"],
    ["芳", "fang"],
    ["静", "jing"],
    ["浩然", "haoran"],
  ],
  intl: [
    ["François", "francois"],
    ["José", "jose"],
    ["Zoë", "zoe"],
    ["Łukasz", "lukasz"],
    ["Ayşe", "ayse"],
    ["Søren", "soren"],
    ["Siobhán", "siobhan"],
    ["John", "john"],
    ["Mary", "mary"],
    ["Ólafur", "olafur"],
  ],
}

export const lastNames: Record<Locale, ReadonlyArray<Name>> = {
  de: [
    ["Müller", "mueller"],
    ["Schäfer", "schaefer"],
    ["Weiß", "weiss"],
    ["Groß", "gross"],
    ["Köhler", "koehler"],
    ["Schmidt", "schmidt"],
    ["Fischer", "fischer"],
    ["Becker", "becker"],
    ["Hoffmann", "hoffmann"],
    ["Meyer-Lüdenscheidt", "meyer-luedenscheidt"],
    ["von Bülow", "vonbuelow"],
  ],
  ru: [
    ["Иванов", "ivanov"],
    ["Смирнова", "smirnova"],
    ["Кузнецов", "kuznetsov"],
    ["Попова", "popova"],
    ["Соколов", "sokolov"],
    ["Щербаков", "shcherbakov"],
  ],
  cjk: [
    ["山田", "yamada"],
    ["佐藤", "sato"],
    ["鈴木", "suzuki"],
    ["王", "wang"],
    ["李", "li"],
    ["张", "zhang"],
  ],
  intl: [
    ["Dubois", "dubois"],
    ["García", "garcia"],
    ["Nowak", "nowak"],
    ["Yılmaz", "yilmaz"],
    ["O'Brien", "obrien"],
    ["van der Berg", "vanderberg"],
    ["Smith", "smith"],
    ["Núñez", "nunez"],
  ],
}

/** `[stem as written, domain stem]` */
export const companyStems: Record<Locale, ReadonlyArray<Name>> = {
  de: [
    ["Müller & Söhne", "mueller-soehne"],
    ["Bäckerei Schäfer", "baeckerei-schaefer"],
    ["Weiß Logistik", "weiss-logistik"],
    ["Nordlicht Medien", "nordlicht-medien"],
    ["Spreewald Feinkost", "spreewald-feinkost"],
    ["Alpenblick Hotels", "alpenblick"],
    ["Rheinland Maschinenbau", "rheinland-mb"],
    ["Großhandel Köhler", "koehler-grosshandel"],
    ["Elbe Software", "elbe-software"],
    ["Schwarzwald Uhren", "schwarzwald-uhren"],
    ["Hanse Immobilien", "hanse-immo"],
    ["Brücken Bau", "bruecken-bau"],
  ],
  ru: [
    ["Ромашка", "romashka"],
    ["Северсталь-Сервис", "severstal-service"],
    ["ТехноПарк", "technopark"],
    ["Вектор", "vector"],
    ["Уральские Самоцветы", "ural-gems"],
    ["Байкал Логистик", "baikal-log"],
  ],
  cjk: [
    ["山田商事", "yamada-shoji"],
    ["さくら電機", "sakura-denki"],
    ["東京精密", "tokyo-seimitsu"],
    ["东方贸易", "dongfang-trade"],
    ["华星科技", "huaxing-tech"],
    ["长城物流", "greatwall-logistics"],
  ],
  intl: [
    ["Acme", "acme"],
    ["Globex", "globex"],
    ["Initech", "initech"],
    ["Blue Ocean", "blueocean"],
    ["Café Lumière", "cafe-lumiere"],
    ["Niño Textiles", "nino-textiles"],
    ["Smørrebrød Catering", "smorrebrod"],
    ["Zürich Consulting", "zurich-consulting"],
  ],
}

/** Company names with emoji, as some users typed them. */
export const emojiCompanies: ReadonlyArray<Name> = [
  ["🚀 Rocket Startups", "rocket-startups"],
  ["Café ☕ Central", "cafe-central"],
  ["Blumen 🌸 Haus", "blumenhaus"],
  ["Pizza 🍕 Express", "pizza-express"],
  ["Green Energy 🌱", "green-energy"],
]

export const legalForms: Record<Locale, ReadonlyArray<(name: string) => string>> = {
  de: [
    (n) => `${n} GmbH`,
    (n) => `${n} GmbH & Co. KG`,
    (n) => `${n} AG`,
    (n) => `${n} e.K.`,
    (n) => `${n} UG (haftungsbeschränkt)`,
  ],
  ru: [(n) => `ООО «${n}»`, (n) => `АО «${n}»`, (n) => `ИП ${n}`],
  cjk: [(n) => `株式会社${n}`, (n) => `${n}有限公司`],
  intl: [(n) => `${n} Ltd.`, (n) => `${n} Inc.`, (n) => `${n} LLC`, (n) => `${n} S.A.R.L.`],
}

export const topLevelDomains: Record<Locale, string> = { de: "de", ru: "ru", cjk: "jp", intl: "com" }

export const industries: ReadonlyArray<string | null> = [
  "Software",
  "software",
  "IT",
  "IT / Software",
  "Manufacturing",
  "Maschinenbau",
  "Handel",
  "Retail",
  "Logistics",
  "Logistik",
  "Gastronomie",
  "Консалтинг",
  "Immobilien",
  "",
  null,
  null,
]

export const jobTitles: Record<Locale, ReadonlyArray<string>> = {
  de: [
    "Geschäftsführer",
    "Geschäftsführerin",
    "Einkauf",
    "Leiter Vertrieb",
    "Buchhaltung",
    "Prokurist",
    "Assistenz",
  ],
  ru: ["Генеральный директор", "Бухгалтер", "Менеджер по закупкам", "Директор"],
  cjk: ["部長", "社長", "经理", "課長"],
  intl: ["CEO", "Head of Procurement", "Office Manager", "CTO", "Sales Director"],
}

export const products: ReadonlyArray<string> = [
  "Rahmenvertrag",
  "Wartungsvertrag",
  "Lizenzen",
  "Beratung",
  "Hardware-Lieferung",
  "Поставка оборудования",
  "Внедрение CRM",
  "年間保守契約",
  "Website relaunch",
  "Support renewal",
  "Pilot project",
  "Schulung",
]

export const notes: ReadonlyArray<string> = [
  "Kunde wünscht Rückruf nach Ostern.",
  "Budget approved by CFO.\nWaiting for PO.",
  'Contact said "maybe next quarter".',
  "<b>Wichtig:</b> nur per Fax erreichbar!",
  "Звонить после 14:00 по Москве.",
  "見積書送付済み",
  "Lost to competitor (price) 😞",
  "Decision maker changed; see new contact.\r\nOld one left the company.",
  "   ",
  "n/a",
]
