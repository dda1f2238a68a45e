import { type Kysely, type RawBuilder, sql, type Transaction } from "kysely"
import type { Database, Kind } from "./schema.js"
import * as Time from "./time.js"

/**
 * Versioned migrations of the state tables. Each one is idempotent (`if not exists`), so a start
 * interrupted half-way through on MySQL (where DDL commits implicitly) simply finishes the job the
 * next time. Starts are serialised: PostgreSQL and PGlite run every pending migration in one
 * transaction under an advisory lock; MySQL holds a named `GET_LOCK` for the duration; SQLite
 * runs them in one write transaction (`begin immediate`), which its file lock serialises.
 */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly up: (db: Kysely<Database> | Transaction<Database>, kind: Kind) => Promise<void>
}

type Db = Kysely<Database> | Transaction<Database>

const types = (kind: Kind) => ({
  /** Pipeline and entity names: short, so the composite keys stay well under MySQL's 3072 bytes. */
  name: sql`varchar(128)`,
  key: sql`varchar(255)`,
  short: sql`varchar(64)`,
  json: kind === "mysql" ? sql`longtext` : sql`text`,
  text: sql`text`,
  // SQLite has no date type: the UTC text `time.ts` writes, which sorts as it compares.
  timestamp: kind === "mysql" ? sql`datetime(3)` : kind === "sqlite" ? sql`text` : sql`timestamp(3)`,
  integer: sql`integer`,
})

/**
 * MySQL compares with the table's collation, and keys must compare byte for byte: `ABC` is not
 * `abc`, and `x ` is not `x`. `utf8mb4_bin` is case-sensitive but ignores trailing spaces (PAD
 * SPACE), so the no-pad binary collation is preferred: MariaDB's `utf8mb4_nopad_bin`, MySQL 8's
 * `utf8mb4_0900_bin`. Servers with neither (MySQL 5.7) get `utf8mb4_bin`.
 */
const mysqlCollation = async (db: Db): Promise<string> => {
  const found = await sql<{ name: string }>`
    select collation_name as name from information_schema.collations
    where collation_name in ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')`.execute(db)
  const names = found.rows.map((r) => r.name)
  return names.find((n) => n === "utf8mb4_nopad_bin") ?? names[0] ?? "utf8mb4_bin"
}

const tableOptions = async (db: Db, kind: Kind): Promise<RawBuilder<unknown>> =>
  kind === "mysql"
    ? sql`engine = InnoDB default charset = utf8mb4 collate = ${sql.raw(await mysqlCollation(db))}`
    : sql``

/** `create index if not exists` is not MySQL syntax (MariaDB has it), so MySQL asks the catalog first. */
const createIndex = async (
  db: Db,
  kind: Kind,
  table: keyof Database,
  name: string,
  columns: ReadonlyArray<string>,
): Promise<void> => {
  if (kind === "mysql") {
    const existing = await sql<{ n: number | string }>`
      select count(*) as n from information_schema.statistics
      where table_schema = database() and table_name = ${table} and index_name = ${name}`.execute(db)
    if (Number(existing.rows[0]?.n ?? 0) > 0) return
    await db.schema
      .createIndex(name)
      .on(table)
      .columns([...columns])
      .execute()
    return
  }
  await db.schema
    .createIndex(name)
    .ifNotExists()
    .on(table)
    .columns([...columns])
    .execute()
}

/** `add column if not exists` is not MySQL or SQLite syntax (MariaDB and PostgreSQL have it). */
const addColumn = async (
  db: Db,
  kind: Kind,
  table: keyof Database,
  column: string,
  type: RawBuilder<unknown>,
): Promise<void> => {
  if (kind === "mysql") {
    const existing = await sql<{ n: number | string }>`
      select count(*) as n from information_schema.columns
      where table_schema = database() and table_name = ${table} and column_name = ${column}`.execute(db)
    if (Number(existing.rows[0]?.n ?? 0) > 0) return
    await sql`alter table ${sql.table(table)} add column ${sql.ref(column)} ${type}`.execute(db)
    return
  }
  if (kind === "sqlite") {
    const existing = await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(db)
    if (existing.rows.some((r) => r.name === column)) return
    await sql`alter table ${sql.table(table)} add column ${sql.ref(column)} ${type}`.execute(db)
    return
  }
  await sql`alter table ${sql.table(table)} add column if not exists ${sql.ref(column)} ${type}`.execute(db)
}

export const migrations: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: "state tables: runs, checkpoints, id_map, dead_letters, locks",
    up: async (db, kind) => {
      const t = types(kind)
      const options = await tableOptions(db, kind)
      await db.schema
        .createTable("runs")
        .ifNotExists()
        .addColumn("id", t.short, (c) => c.primaryKey())
        .addColumn("pipeline", t.name, (c) => c.notNull())
        .addColumn("status", t.short, (c) => c.notNull())
        .addColumn("started_at", t.timestamp, (c) => c.notNull())
        .addColumn("finished_at", t.timestamp)
        .addColumn("stats", t.json, (c) => c.notNull())
        .modifyEnd(options)
        .execute()
      await createIndex(db, kind, "runs", "runs_pipeline_started_idx", ["pipeline", "started_at"])

      await db.schema
        .createTable("checkpoints")
        .ifNotExists()
        .addColumn("pipeline", t.name, (c) => c.notNull())
        .addColumn("entity", t.name, (c) => c.notNull())
        .addColumn("cursor_value", t.json, (c) => c.notNull())
        .addColumn("updated_at", t.timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint("checkpoints_pk", ["pipeline", "entity"])
        .modifyEnd(options)
        .execute()

      await db.schema
        .createTable("id_map")
        .ifNotExists()
        .addColumn("pipeline", t.name, (c) => c.notNull())
        .addColumn("entity", t.name, (c) => c.notNull())
        .addColumn("source_key", t.key, (c) => c.notNull())
        .addColumn("target_type", t.name, (c) => c.notNull())
        .addColumn("target_id", t.key)
        .addColumn("payload_hash", t.name, (c) => c.notNull())
        .addColumn("status", sql`varchar(16)`, (c) => c.notNull())
        // The runner's batch ids are `run id:entity:sequence`.
        .addColumn("batch_id", t.key)
        .addColumn("updated_at", t.timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint("id_map_pk", ["pipeline", "entity", "source_key"])
        .modifyEnd(options)
        .execute()
      await createIndex(db, kind, "id_map", "id_map_status_idx", ["pipeline", "entity", "status"])

      await db.schema
        .createTable("dead_letters")
        .ifNotExists()
        .addColumn("pipeline", t.name, (c) => c.notNull())
        .addColumn("entity", t.name, (c) => c.notNull())
        .addColumn("source_key", t.key, (c) => c.notNull())
        .addColumn("stage", t.short, (c) => c.notNull())
        .addColumn("code", sql`varchar(128)`, (c) => c.notNull())
        .addColumn("message", t.text, (c) => c.notNull())
        .addColumn("payload", t.json, (c) => c.notNull())
        .addColumn("attempts", t.integer, (c) => c.notNull())
        .addColumn("created_at", t.timestamp, (c) => c.notNull())
        .addColumn("updated_at", t.timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint("dead_letters_pk", ["pipeline", "entity", "source_key"])
        .modifyEnd(options)
        .execute()

      await db.schema
        .createTable("locks")
        .ifNotExists()
        .addColumn("name", t.key, (c) => c.primaryKey())
        .addColumn("owner", t.key, (c) => c.notNull())
        .addColumn("acquired_at", t.timestamp, (c) => c.notNull())
        .addColumn("expires_at", t.timestamp, (c) => c.notNull())
        .modifyEnd(options)
        .execute()
    },
  },
  {
    version: 2,
    name: "credentials: secrets a sink rotates (OAuth refresh tokens), encrypted by the sink",
    up: async (db, kind) => {
      const t = types(kind)
      await db.schema
        .createTable("credentials")
        .ifNotExists()
        .addColumn("name", t.key, (c) => c.primaryKey())
        .addColumn("value", t.text, (c) => c.notNull())
        .addColumn("updated_at", t.timestamp, (c) => c.notNull())
        .modifyEnd(await tableOptions(db, kind))
        .execute()
    },
  },
  {
    version: 3,
    name: "bindings: the portal and source each pipeline's state belongs to; dead letters can be dismissed",
    up: async (db, kind) => {
      const t = types(kind)
      await db.schema
        .createTable("bindings")
        .ifNotExists()
        .addColumn("pipeline", t.name, (c) => c.primaryKey())
        .addColumn("target", t.key, (c) => c.notNull())
        .addColumn("originator", t.key, (c) => c.notNull())
        .addColumn("source", t.text)
        .addColumn("bound_at", t.timestamp, (c) => c.notNull())
        .addColumn("updated_at", t.timestamp, (c) => c.notNull())
        .modifyEnd(await tableOptions(db, kind))
        .execute()
      await addColumn(db, kind, "dead_letters", "dismissed_at", t.timestamp)
    },
  },
]

/** The newest schema version this code knows. */
export const latestVersion = migrations.reduce((max, m) => Math.max(max, m.version), 0)

/** Arbitrary but fixed: the advisory lock that serialises migrations on PostgreSQL and PGlite. */
const advisoryLockKey = 7_241_020_501

const createMigrationsTable = async (db: Db, kind: Kind) =>
  db.schema
    .createTable("schema_migrations")
    .ifNotExists()
    .addColumn("version", sql`integer`, (c) => c.primaryKey())
    .addColumn("name", sql`varchar(255)`, (c) => c.notNull())
    .addColumn("applied_at", types(kind).timestamp, (c) => c.notNull())
    .modifyEnd(await tableOptions(db, kind))
    .execute()

const applyPending = async (db: Db, kind: Kind, now: number): Promise<ReadonlyArray<Migration>> => {
  await createMigrationsTable(db, kind)
  const done = new Set(
    (await db.selectFrom("schema_migrations").select("version").execute()).map((r) => Number(r.version)),
  )
  const newest = Math.max(0, ...done)
  if (newest > latestVersion) {
    throw new Error(
      `the state schema is at version ${newest}, newer than this program knows (${latestVersion}); upgrade the program`,
    )
  }
  const applied: Array<Migration> = []
  for (const migration of migrations) {
    if (done.has(migration.version)) continue
    await migration.up(db, kind)
    await db
      .insertInto("schema_migrations")
      .values({ version: migration.version, name: migration.name, applied_at: Time.toSql(now) })
      .execute()
    applied.push(migration)
  }
  return applied
}

/** Brings the schema up to date; answers the migrations this call applied (none when it was current). */
export const migrate = async (
  db: Kysely<Database>,
  kind: Kind,
  now: number,
): Promise<ReadonlyArray<Migration>> => {
  if (kind === "sqlite") return db.transaction().execute((trx) => applyPending(trx, kind, now))
  if (kind !== "mysql") {
    return db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(advisoryLockKey)})`.execute(trx)
      return applyPending(trx, kind, now)
    })
  }
  return db.connection().execute(async (conn) => {
    // Named locks are server-wide, so the name carries the database: other databases do not wait.
    const lockName = sql`concat('b24etl_state_migrations:', database())`
    const got = await sql<{ got: number | string | null }>`select get_lock(${lockName}, 120) as got`.execute(
      conn,
    )
    if (Number(got.rows[0]?.got) !== 1) {
      throw new Error("timed out after 120 s waiting for another process to finish migrating the state store")
    }
    try {
      return await applyPending(conn, kind, now)
    } finally {
      await sql`select release_lock(${lockName})`.execute(conn)
    }
  })
}
