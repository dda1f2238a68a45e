import { Effect } from "effect"
import { type ColumnType, type CreateTableBuilder, type Generated, type Kysely, sql } from "kysely"
import { LegacyDatabaseError } from "./LegacyDatabaseError.js"

/**
 * The demo legacy CRM: the schema of a 2010s in-house CRM, the same on PostgreSQL and MySQL /
 * MariaDB. Foreign keys are plain integer columns with indexes and no constraints (as such systems
 * often had), so orphaned references can and do exist. `updated_at` is indexed everywhere: an
 * incremental sync reads by it.
 */

/** The SQL dialects the legacy database runs on (PGlite counts as `postgres`). */
export type LegacyDialect = "postgres" | "mysql"

/** `timestamptz` on PostgreSQL, `datetime(3)` in UTC on MySQL; read as `Date`. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>
export type NullableTimestamp = ColumnType<
  Date | null,
  Date | string | null | undefined,
  Date | string | null
>

/** Sales users of the legacy CRM; `bitrix_user_id` is the responsible-user mapping (often unset). */
export interface OwnersTable {
  readonly id: Generated<number>
  readonly email: string
  readonly full_name: string
  readonly bitrix_user_id: number | null
}

/** Companies. Soft-deleted rows keep their data and get `deleted_at`. */
export interface AccountsTable {
  readonly id: Generated<number>
  readonly name: string
  readonly legal_name: string | null
  readonly industry: string | null
  readonly website: string | null
  readonly phone: string | null
  readonly vat_number: string | null
  readonly owner_id: number | null
  readonly created_at: Timestamp
  readonly updated_at: Timestamp
  readonly deleted_at: NullableTimestamp
}

/** Contacts. `phones` and `emails` hold several values in free text, as users typed them. */
export interface PeopleTable {
  readonly id: Generated<number>
  /** The company; not a real foreign key: may name an account that does not exist. */
  readonly account_id: number | null
  readonly first_name: string
  readonly last_name: string | null
  readonly job_title: string | null
  /** e.g. `+49 30 1234567; mobile: 0171/2345678` */
  readonly phones: string | null
  /** Comma- or semicolon-separated, possibly duplicated or invalid. */
  readonly emails: string | null
  readonly owner_id: number | null
  readonly created_at: Timestamp
  readonly updated_at: Timestamp
}

/** Deals. */
export interface OpportunitiesTable {
  readonly id: Generated<number>
  readonly account_id: number | null
  readonly primary_contact_id: number | null
  readonly title: string | null
  /** `numeric(14,2)`, read as exact decimal text. */
  readonly amount: ColumnType<string | null, string | number | null, string | number | null>
  /** `char(3)`: mostly ISO codes, also lower case, `RUR`, `€` and unknown codes. */
  readonly currency: string | null
  /** Legacy codes: `prospect`, `qualified`, `proposal`, `negotiation`, `won`, `lost` (and variants). */
  readonly stage: string
  readonly probability: number | null
  /** `YYYY-MM-DD` (the connect helpers read `date` as text). */
  readonly close_date: string | null
  readonly owner_id: number | null
  readonly notes: string | null
  readonly created_at: Timestamp
  readonly updated_at: Timestamp
}

/** The many-to-many link between opportunities and people. */
export interface OpportunityContactsTable {
  readonly opportunity_id: number
  readonly person_id: number
}

/** Written by `seed` in the same transaction as the data: its presence means "seeded". */
export interface DemoSeedTable {
  readonly id: number
  readonly seed: number
  readonly companies: number
  /** The seed's counts as JSON text (`SeedCounts`). */
  readonly counts: string
  readonly seeded_at: Timestamp
}

export interface LegacyDatabase {
  readonly owners: OwnersTable
  readonly accounts: AccountsTable
  readonly people: PeopleTable
  readonly opportunities: OpportunitiesTable
  readonly opportunity_contacts: OpportunityContactsTable
  readonly demo_seed: DemoSeedTable
}

/** The tables, in the order they are created (dropped in reverse). */
export const tables = [
  "owners",
  "accounts",
  "people",
  "opportunities",
  "opportunity_contacts",
  "demo_seed",
] as const satisfies ReadonlyArray<keyof LegacyDatabase>

export type LegacyTable = (typeof tables)[number]

/** The tables holding legacy data (everything but the seed marker). */
export const dataTables = tables.filter(
  (table): table is Exclude<LegacyTable, "demo_seed"> => table !== "demo_seed",
)

// biome-ignore lint/suspicious/noExplicitAny: the builder is only used for DDL
type Builder = CreateTableBuilder<any, any>

const timestamp = (dialect: LegacyDialect) => (dialect === "postgres" ? "timestamptz" : "datetime(3)")

const id = (dialect: LegacyDialect) => (table: Builder) =>
  dialect === "postgres"
    ? table.addColumn("id", "serial", (c) => c.primaryKey())
    : table.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())

const stamps = (dialect: LegacyDialect) => (table: Builder) =>
  table
    .addColumn("created_at", timestamp(dialect), (c) => c.notNull())
    .addColumn("updated_at", timestamp(dialect), (c) => c.notNull())

// Stated explicitly: a MySQL server whose default is latin1 would otherwise lose the unicode names.
const tableOptions = (dialect: LegacyDialect) => (table: Builder) =>
  dialect === "mysql"
    ? table.modifyEnd(sql`ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`)
    : table

interface TableDefinition {
  readonly build: (dialect: LegacyDialect) => (table: Builder) => Builder
  readonly indexes: ReadonlyArray<readonly [name: string, columns: ReadonlyArray<string>]>
}

const definitions: Record<LegacyTable, TableDefinition> = {
  owners: {
    build: (dialect) => (table) =>
      id(dialect)(table)
        .addColumn("email", "varchar(255)", (c) => c.notNull())
        .addColumn("full_name", "varchar(255)", (c) => c.notNull())
        .addColumn("bitrix_user_id", "integer"),
    indexes: [],
  },
  accounts: {
    build: (dialect) => (table) =>
      stamps(dialect)(
        id(dialect)(table)
          .addColumn("name", "varchar(255)", (c) => c.notNull())
          .addColumn("legal_name", "varchar(255)")
          .addColumn("industry", "varchar(100)")
          .addColumn("website", "varchar(255)")
          .addColumn("phone", "varchar(100)")
          .addColumn("vat_number", "varchar(50)")
          .addColumn("owner_id", "integer"),
      ).addColumn("deleted_at", timestamp(dialect)),
    indexes: [
      ["accounts_updated_at_idx", ["updated_at", "id"]],
      ["accounts_owner_id_idx", ["owner_id"]],
    ],
  },
  people: {
    build: (dialect) => (table) =>
      stamps(dialect)(
        id(dialect)(table)
          .addColumn("account_id", "integer")
          .addColumn("first_name", "varchar(100)", (c) => c.notNull())
          .addColumn("last_name", "varchar(100)")
          .addColumn("job_title", "varchar(255)")
          .addColumn("phones", "text")
          .addColumn("emails", "text")
          .addColumn("owner_id", "integer"),
      ),
    indexes: [
      ["people_updated_at_idx", ["updated_at", "id"]],
      ["people_account_id_idx", ["account_id"]],
    ],
  },
  opportunities: {
    build: (dialect) => (table) =>
      stamps(dialect)(
        id(dialect)(table)
          .addColumn("account_id", "integer")
          .addColumn("primary_contact_id", "integer")
          .addColumn("title", "varchar(255)")
          .addColumn("amount", "numeric(14, 2)")
          .addColumn("currency", "char(3)")
          .addColumn("stage", "varchar(30)", (c) => c.notNull())
          .addColumn("probability", "smallint")
          .addColumn("close_date", "date")
          .addColumn("owner_id", "integer")
          .addColumn("notes", "text"),
      ),
    indexes: [
      ["opportunities_updated_at_idx", ["updated_at", "id"]],
      ["opportunities_account_id_idx", ["account_id"]],
      ["opportunities_primary_contact_id_idx", ["primary_contact_id"]],
    ],
  },
  opportunity_contacts: {
    build: () => (table) =>
      table
        .addColumn("opportunity_id", "integer", (c) => c.notNull())
        .addColumn("person_id", "integer", (c) => c.notNull())
        .addPrimaryKeyConstraint("opportunity_contacts_pkey", ["opportunity_id", "person_id"]),
    indexes: [["opportunity_contacts_person_id_idx", ["person_id"]]],
  },
  demo_seed: {
    build: (dialect) => (table) =>
      table
        .addColumn("id", "integer", (c) => c.primaryKey())
        .addColumn("seed", "integer", (c) => c.notNull())
        .addColumn("companies", "integer", (c) => c.notNull())
        .addColumn("counts", "text", (c) => c.notNull())
        .addColumn("seeded_at", timestamp(dialect), (c) => c.notNull()),
    indexes: [],
  },
}

// biome-ignore lint/suspicious/noExplicitAny: DDL and introspection work on any Kysely instance
type AnyKysely = Kysely<any>

/** The legacy tables that exist in the connection's current schema (PostgreSQL) or database (MySQL). */
export const existingTables = async (
  db: AnyKysely,
  dialect: LegacyDialect,
): Promise<ReadonlySet<LegacyTable>> => {
  const schema = dialect === "postgres" ? sql`current_schema()` : sql`database()`
  const found = await sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = ${schema} AND table_type = 'BASE TABLE'`.execute(db)
  const names = new Set(found.rows.map((row) => row.name))
  return new Set(tables.filter((name) => names.has(name)))
}

/** Creates the tables (and their indexes) that do not exist yet, as plain Kysely DDL. */
export const createTables = async (db: AnyKysely, dialect: LegacyDialect): Promise<void> => {
  const existing = await existingTables(db, dialect)
  for (const name of tables) {
    if (existing.has(name)) continue
    const definition = definitions[name]
    await tableOptions(dialect)(definition.build(dialect)(db.schema.createTable(name))).execute()
    for (const [index, columns] of definition.indexes) {
      await db.schema
        .createIndex(index)
        .on(name)
        .columns([...columns])
        .execute()
    }
  }
}

/** Drops every legacy table that exists. */
export const dropTables = async (db: AnyKysely): Promise<void> => {
  for (const name of [...tables].reverse()) await db.schema.dropTable(name).ifExists().execute()
}

const failure = (operation: string) => (cause: unknown) =>
  new LegacyDatabaseError({
    operation,
    message: `${operation}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause,
  })

/**
 * Creates the legacy schema: the tables that are missing, each with its indexes (existing tables
 * are left as they are, so calling it twice is harmless).
 */
export const createLegacySchema = (
  db: Kysely<LegacyDatabase>,
  dialect: LegacyDialect,
): Effect.Effect<void, LegacyDatabaseError> =>
  Effect.tryPromise({ try: () => createTables(db, dialect), catch: failure("creating the legacy schema") })

/** Drops the legacy tables with their data. */
export const dropLegacySchema = (db: Kysely<LegacyDatabase>): Effect.Effect<void, LegacyDatabaseError> =>
  Effect.tryPromise({ try: () => dropTables(db), catch: failure("dropping the legacy schema") })
