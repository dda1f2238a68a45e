import { type Insertable, type Kysely, type Selectable, sql } from "kysely"
import type { SourceKey } from "../../SourceKey.js"
import type { BatchCommit, IdMapEntry, IdMapStatus, StateStore } from "../../StateStore.js"
import type { StoreContext } from "./context.js"
import { chunks, type Db, lastByKey, upsert } from "./dialect.js"
import { checkKeys, lookupChunk, unique, wantedRows } from "./keys.js"
import type { Database, Kind } from "./schema.js"
import * as Time from "./time.js"

/**
 * The id map: which target record each source record became (`created`), or is being sent as
 * (`pending`, written before the send so a crash leaves a trace to reconcile), or is to be
 * deleted from (`deleting`, written with the checkpoint so a crash leaves the deletion to do) or
 * was deleted from (`deleted`).
 */

type IdMapInsert = Insertable<Database["id_map"]>

/** The columns an entry reads, besides `updated_at`. */
const entryColumns = [
  "entity",
  "source_key",
  "target_type",
  "target_id",
  "payload_hash",
  "status",
  "batch_id",
] as const

const insertColumns = ["pipeline", ...entryColumns, "updated_at"] as const

const selectColumns = (kind: Kind) =>
  [...entryColumns, Time.read(kind, sql.ref("updated_at")).as("updated_at")] as const

type IdMapRow = Pick<Selectable<Database["id_map"]>, (typeof entryColumns)[number]> & {
  readonly updated_at: string
}

const toEntry = (row: IdMapRow): IdMapEntry => ({
  entity: row.entity,
  sourceKey: row.source_key,
  targetType: row.target_type,
  targetId: row.target_id,
  payloadHash: row.payload_hash,
  status: row.status as IdMapStatus,
  batchId: row.batch_id,
  updatedAt: Time.fromSql(row.updated_at),
})

/** PostgreSQL and PGlite: arrays through `unnest`, not `values` lists. */
const usesArrays = (kind: Kind) => kind === "postgres" || kind === "pglite"

/**
 * Id-map rows per statement. MySQL and SQLite get multi-row `values` lists (SQLite binds at most
 * 32,766 parameters: 2,000 rows of 9 columns stay well under); PostgreSQL gets one array per
 * column through `unnest` (a 2,000-row `values` list costs its planner ~20 times as much), so its
 * statements are bigger.
 */
const rowsPerStatement = (kind: Kind) => (usesArrays(kind) ? 10_000 : 2_000)

/** Inserts id-map rows in one statement: a `values` list on MySQL and SQLite, arrays through `unnest` on PostgreSQL. */
const insertRows = (db: Db, kind: Kind, rows: ReadonlyArray<IdMapInsert>) => {
  if (!usesArrays(kind)) return db.insertInto("id_map").values([...rows])
  const column = (name: (typeof insertColumns)[number]) => rows.map((r) => r[name] ?? null)
  return db
    .insertInto("id_map")
    .columns([...insertColumns])
    .expression(
      sql`select * from unnest(${sql.join(
        insertColumns.map((name) =>
          name === "updated_at" ? sql`${column(name)}::timestamp(3)[]` : sql`${column(name)}::varchar[]`,
        ),
      )})`,
    )
}

/** Writes `pending` rows; a `created` row keeps everything: its record exists in the target already. */
const writePending = async (db: Db, kind: Kind, rows: ReadonlyArray<IdMapInsert>) => {
  for (const part of chunks(rows, rowsPerStatement(kind))) {
    const insert = insertRows(db, kind, part)
    await (kind === "mysql"
      ? insert.onDuplicateKeyUpdate({
          target_type: sql`if(status = 'created', target_type, values(target_type))`,
          payload_hash: sql`if(status = 'created', payload_hash, values(payload_hash))`,
          batch_id: sql`if(status = 'created', batch_id, values(batch_id))`,
          updated_at: sql`if(status = 'created', updated_at, values(updated_at))`,
          // Last: MySQL applies assignments in order, and the ones above read the old status.
          status: sql`if(status = 'created', status, values(status))`,
        })
      : insert.onConflict((oc) =>
          oc
            .columns(["pipeline", "entity", "source_key"])
            .doUpdateSet((eb) => ({
              target_type: eb.ref("excluded.target_type"),
              payload_hash: eb.ref("excluded.payload_hash"),
              batch_id: eb.ref("excluded.batch_id"),
              updated_at: eb.ref("excluded.updated_at"),
              status: eb.ref("excluded.status"),
            }))
            .where("id_map.status", "<>", "created"),
        )
    ).execute()
  }
}

/** Writes a committed batch's `created` rows over whatever the keys had (for `commit`). */
export const writeCreated = async (trx: Db, kind: Kind, batch: BatchCommit, now: string) => {
  const rows = lastByKey(batch.created, (r) => r.sourceKey)
  for (const part of chunks(rows, rowsPerStatement(kind))) {
    const insert = insertRows(
      trx,
      kind,
      part.map((r) => ({
        pipeline: batch.pipeline,
        entity: batch.entity,
        source_key: r.sourceKey,
        target_type: r.targetType,
        target_id: r.targetId,
        payload_hash: r.payloadHash,
        status: "created",
        batch_id: r.batchId,
        updated_at: now,
      })),
    )
    await upsert(
      kind,
      insert,
      ["pipeline", "entity", "source_key"],
      ["target_type", "target_id", "payload_hash", "status", "updated_at"],
      // An update (no batch) keeps the batch that created the item: `undo --run` finds it by it.
      {
        batch_id:
          kind === "mysql"
            ? sql`coalesce(values(batch_id), batch_id)`
            : sql`coalesce(excluded.batch_id, id_map.batch_id)`,
      },
    ).execute()
  }
}

/**
 * Moves rows of `keys` from status `from` to `to` (for `commit`): `created` -> `deleting` with
 * the deletion's hash, `deleting` -> `deleted`. Rows in another status are left alone: a record
 * the source brought back in the meantime is `created` again.
 */
export const moveStatus = async (
  trx: Db,
  at: { readonly pipeline: string; readonly entity: string },
  move: { readonly from: IdMapStatus; readonly to: IdMapStatus },
  rows: ReadonlyArray<{ readonly sourceKey: SourceKey; readonly payloadHash?: string | undefined }>,
  now: string,
) => {
  // One statement per hash and lookup-sized list of keys (a deletion's hash is the same for all).
  const byHash = new Map<string | undefined, Array<SourceKey>>()
  for (const r of rows) byHash.set(r.payloadHash, [...(byHash.get(r.payloadHash) ?? []), r.sourceKey])
  for (const [hash, keys] of byHash) {
    for (const part of chunks(unique(keys), lookupChunk)) {
      await trx
        .updateTable("id_map")
        .set({ status: move.to, updated_at: now, ...(hash === undefined ? {} : { payload_hash: hash }) })
        .where("pipeline", "=", at.pipeline)
        .where("entity", "=", at.entity)
        .where("status", "=", move.from)
        .where("source_key", "in", [...part])
        .execute()
    }
  }
}

/**
 * PostgreSQL plans the id-map lookups from table statistics. Without them (PGlite never
 * autovacuums; a server's autovacuum lags a bulk load) it looks keys up through the status
 * index, reading every row of the entity: ~25 times slower at 200,000 rows (`bench/runner.ts`).
 * So the store analyzes `id_map` itself each time the rows it wrote have doubled since the
 * last analysis: a handful of times over a whole migration. MySQL's InnoDB keeps its own; SQLite
 * without statistics prefers the index that matches the most `=`/`in` terms, the primary key.
 */
const statistics = (db: Kysely<Database>, kind: Kind) => {
  let writtenSinceAnalyze = 0
  let writtenAtAnalyze = 0
  let analyzing = false
  return async (written: number) => {
    if (!usesArrays(kind)) return
    writtenSinceAnalyze += written
    if (analyzing || writtenSinceAnalyze < Math.max(1_000, writtenAtAnalyze)) return
    analyzing = true
    try {
      await sql`analyze id_map`.execute(db)
      writtenAtAnalyze += writtenSinceAnalyze
      writtenSinceAnalyze = 0
    } finally {
      analyzing = false
    }
  }
}

/** The id map's part of the store. */
export const make = ({
  db,
  kind,
  attempt,
  inTransaction,
}: StoreContext): Pick<
  StateStore,
  "lookup" | "lookupMany" | "markPending" | "pending" | "deleting" | "idMapRows" | "idMapCounts"
> => {
  const keepStatistics = statistics(db, kind)
  /** An entity's rows in one status: `pending` in batch order (as they were sent), others by key. */
  const withStatus = async (pipeline: string, entity: string, status: "pending" | "deleting") => {
    let query = db
      .selectFrom("id_map")
      .select(selectColumns(kind))
      .where("pipeline", "=", pipeline)
      .where("entity", "=", entity)
      .where("status", "=", status)
    if (status === "pending") query = query.orderBy("batch_id")
    return (await query.orderBy("source_key").execute()).map(toEntry)
  }
  return {
    lookup: (pipeline, entity, keys) =>
      attempt("looking up the id map", async () => {
        const found = new Map<SourceKey, IdMapEntry>()
        for (const part of chunks(unique(keys), lookupChunk)) {
          const rows = await db
            .selectFrom("id_map")
            .select(selectColumns(kind))
            .where("pipeline", "=", pipeline)
            .where("entity", "=", entity)
            .where("source_key", "in", [...part])
            .execute()
          for (const row of rows) found.set(row.source_key, toEntry(row))
        }
        return found
      }),

    lookupMany: (pipeline, wanted) =>
      attempt("looking up the id map", async () => {
        const query = wantedRows(db, "id_map", pipeline, wanted)
        return query === undefined ? [] : (await query.select(selectColumns(kind)).execute()).map(toEntry)
      }),

    markPending: (pipeline, entity, batchId, rows) =>
      attempt("recording a batch as pending", async (millis) => {
        if (rows.length === 0) return
        checkKeys(
          entity,
          rows.map((r) => r.sourceKey),
        )
        const now = Time.toSql(millis)
        const inserts = lastByKey(rows, (r) => r.sourceKey).map(
          (r): IdMapInsert => ({
            pipeline,
            entity,
            source_key: r.sourceKey,
            target_type: r.targetType,
            target_id: null,
            payload_hash: r.payloadHash,
            status: "pending",
            batch_id: batchId,
            updated_at: now,
          }),
        )
        await (rows.length > rowsPerStatement(kind)
          ? inTransaction((trx) => writePending(trx, kind, inserts))
          : writePending(db, kind, inserts))
        await keepStatistics(rows.length)
      }),

    pending: (pipeline, entity) =>
      attempt("listing pending id-map rows", () => withStatus(pipeline, entity, "pending")),

    deleting: (pipeline, entity) =>
      attempt("listing id-map rows to delete", () => withStatus(pipeline, entity, "deleting")),

    idMapRows: (pipeline, entity, { statuses, batchPrefix }) =>
      attempt("listing id-map rows", async () => {
        if (statuses.length === 0) return []
        const rows = await db
          .selectFrom("id_map")
          .select(selectColumns(kind))
          .where("pipeline", "=", pipeline)
          .where("entity", "=", entity)
          .where("status", "in", [...statuses])
          .orderBy("source_key")
          .execute()
        // The prefix is compared here, not with `like`: a run id may hold `%` or `_`.
        return rows
          .filter((r) => batchPrefix === undefined || (r.batch_id ?? "").startsWith(batchPrefix))
          .map(toEntry)
      }),

    idMapCounts: (pipeline) =>
      attempt("counting id-map rows", async () => {
        const rows = await db
          .selectFrom("id_map")
          .select(["entity", "status", (eb) => eb.fn.countAll<number | string | bigint>().as("count")])
          .where("pipeline", "=", pipeline)
          .groupBy(["entity", "status"])
          .orderBy("entity")
          .orderBy("status")
          .execute()
        return rows.map((r) => ({
          entity: r.entity,
          status: r.status as IdMapStatus,
          count: Number(r.count),
        }))
      }),
  }
}
