import type { ColumnType } from "kysely"

/**
 * The state tables as Kysely sees them. Timestamps are written as UTC text
 * (`2026-01-31 12:00:00.123`) and read back through `internal/state/time.ts`, so the stored values
 * are UTC whatever the driver's or the session's time zone.
 */
type Timestamp = ColumnType<string, string, string>

export interface SchemaMigrationsTable {
  readonly version: number
  readonly name: string
  readonly applied_at: Timestamp
}

export interface RunsTable {
  readonly id: string
  readonly pipeline: string
  readonly status: string
  readonly started_at: Timestamp
  readonly finished_at: ColumnType<string | null, string | null, string | null>
  /** JSON text. */
  readonly stats: string
}

export interface CheckpointsTable {
  readonly pipeline: string
  readonly entity: string
  /** JSON text of the entity's cursor (`cursor` itself is a reserved word in MySQL). */
  readonly cursor_value: string
  readonly updated_at: Timestamp
}

export interface IdMapTable {
  readonly pipeline: string
  readonly entity: string
  readonly source_key: string
  readonly target_type: string
  readonly target_id: string | null
  readonly payload_hash: string
  readonly status: string
  readonly batch_id: string | null
  readonly updated_at: Timestamp
}

export interface DeadLettersTable {
  readonly pipeline: string
  readonly entity: string
  readonly source_key: string
  readonly stage: string
  readonly code: string
  readonly message: string
  /** JSON text of the source record. */
  readonly payload: string
  readonly attempts: number
  readonly created_at: Timestamp
  readonly updated_at: Timestamp
  /** When a user acknowledged it (`pipeline failures --dismiss`); null while it counts. */
  readonly dismissed_at: ColumnType<string | null, string | null | undefined, string | null>
}

export interface LocksTable {
  readonly name: string
  readonly owner: string
  readonly acquired_at: Timestamp
  readonly expires_at: Timestamp
}

export interface CredentialsTable {
  /** Chosen by the sink, e.g. `bitrix24-oauth https://acme.bitrix24.com local.app`. */
  readonly name: string
  /** Opaque to the store: the sink encrypts what it keeps here. */
  readonly value: string
  readonly updated_at: Timestamp
}

export interface BindingsTable {
  readonly pipeline: string
  /** The target a pipeline writes to, without secrets (`bitrix24 https://acme.bitrix24.com user 1`). */
  readonly target: string
  /** The `originatorId` its items carry. */
  readonly originator: string
  /** Its sources, without secrets (host and database); null when they cannot tell. */
  readonly source: string | null
  readonly bound_at: Timestamp
  readonly updated_at: Timestamp
}

export interface Database {
  readonly schema_migrations: SchemaMigrationsTable
  readonly runs: RunsTable
  readonly checkpoints: CheckpointsTable
  readonly id_map: IdMapTable
  readonly dead_letters: DeadLettersTable
  readonly locks: LocksTable
  readonly credentials: CredentialsTable
  readonly bindings: BindingsTable
}

export type Kind = "postgres" | "mysql" | "pglite" | "sqlite"
