import { randomUUID } from "node:crypto"
import { type Effect, Option } from "effect"
import { type Insertable, type Kysely, type Selectable, sql } from "kysely"
import type { Json } from "../../Json.js"
import type { SourceKey } from "../../SourceKey.js"
import type {
  BatchCommit,
  DeadLetter,
  IdMapEntry,
  IdMapStatus,
  Run,
  RunStatus,
  StateStore,
  StateStoreError,
} from "../../StateStore.js"
import * as Context from "./context.js"
import { chunks, type Db, lastByKey, parseJson, upsert } from "./dialect.js"
import { checkKeys, checkLength, deleteKeys, lookupChunk, unique, wantedRows } from "./keys.js"
import type { Database, Kind } from "./schema.js"
import * as Time from "./time.js"

/** Who holds a lock, for messages (`Lock.acquire` names the holder when it cannot take it). */
export interface LockHolder {
  readonly owner: string
  readonly acquiredAt: Date
  readonly expiresAt: Date
}

/** The SQL state store: the `StateStore` contract plus what only a SQL store can tell. */
export interface SqlStateStore extends StateStore {
  /** The schema versions this opening applied: empty when the schema was current already. */
  readonly migrated: ReadonlyArray<number>
  /** The applied schema migrations, oldest first (what `schema_migrations` holds). */
  readonly schemaMigrations: Effect.Effect<
    ReadonlyArray<{ readonly version: number; readonly name: string; readonly appliedAt: Date }>,
    StateStoreError
  >
  /** The current holder of lock `name`, expired or not; none when nobody has taken it. */
  readonly lockHolder: (name: string) => Effect.Effect<Option.Option<LockHolder>, StateStoreError>
}

type IdMapInsert = Insertable<Database["id_map"]>

const idMapInsertColumns = [
  "pipeline",
  "entity",
  "source_key",
  "target_type",
  "target_id",
  "payload_hash",
  "status",
  "batch_id",
  "updated_at",
] as const

/** Inserts id-map rows in one statement: a `values` list on MySQL, arrays through `unnest` on PostgreSQL. */
const insertIdMap = (db: Db, kind: Kind, rows: ReadonlyArray<IdMapInsert>) => {
  if (kind === "mysql") return db.insertInto("id_map").values([...rows])
  const column = (name: (typeof idMapInsertColumns)[number]) => rows.map((r) => r[name] ?? null)
  return db
    .insertInto("id_map")
    .columns([...idMapInsertColumns])
    .expression(
      sql`select * from unnest(${sql.join(
        idMapInsertColumns.map((name) =>
          name === "updated_at" ? sql`${column(name)}::timestamp(3)[]` : sql`${column(name)}::varchar[]`,
        ),
      )})`,
    )
}

/**
 * Id-map rows per statement. MySQL gets multi-row `values` lists; PostgreSQL gets one array per
 * column through `unnest` (a 2,000-row `values` list costs its planner ~20 times as much), so its
 * statements are bigger. Dead letters carry whole records, so fewer go at once.
 */
const idMapChunk = (kind: Kind) => (kind === "mysql" ? 2_000 : 10_000)
const deadLetterChunk = 200

/** MySQL's answers to two transactions racing for the same new row: worth one more try. */
const isMysqlRace = (e: unknown): boolean => {
  const errno = (e as { errno?: unknown } | null)?.errno
  return errno === 1213 || errno === 1062 || errno === 1205
}

const idMapColumns = (kind: Kind) =>
  [
    "entity",
    "source_key",
    "target_type",
    "target_id",
    "payload_hash",
    "status",
    "batch_id",
    Time.read(kind, sql.ref("updated_at")).as("updated_at"),
  ] as const

type IdMapRow = Pick<
  Selectable<Database["id_map"]>,
  "entity" | "source_key" | "target_type" | "target_id" | "payload_hash" | "status" | "batch_id"
> & { readonly updated_at: string }

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

/** Builds the store over a migrated database. `scrub` hides secrets in error messages. */
export const make = (options: {
  readonly db: Kysely<Database>
  readonly kind: Kind
  readonly location: string
  readonly scrub: (text: string) => string
  readonly migrated: ReadonlyArray<number>
}): SqlStateStore => {
  const { db, kind, location, migrated } = options
  const mysql = kind === "mysql"
  const { attempt, inTransaction } = Context.make(options)

  /**
   * PostgreSQL plans the id-map lookups from table statistics. Without them (PGlite never
   * autovacuums; a server's autovacuum lags a bulk load) it looks keys up through the status
   * index, reading every row of the entity: ~25 times slower at 200,000 rows (`bench/runner.ts`).
   * So the store analyzes `id_map` itself each time the rows it wrote have doubled since the
   * last analysis: a handful of times over a whole migration. MySQL's InnoDB keeps its own.
   */
  let writtenSinceAnalyze = 0
  let writtenAtAnalyze = 0
  let analyzing = false
  const keepStatistics = async (written: number) => {
    if (mysql) return
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

  const deadLetterColumns = [
    "entity",
    "source_key",
    "stage",
    "code",
    "message",
    "payload",
    "attempts",
    Time.read(kind, sql.ref("updated_at")).as("updated_at"),
  ] as const

  const toDeadLetter = (r: {
    readonly entity: string
    readonly source_key: string
    readonly stage: string
    readonly code: string
    readonly message: string
    readonly payload: string
    readonly attempts: number | string
    readonly updated_at: string
  }): DeadLetter => ({
    entity: r.entity,
    sourceKey: r.source_key,
    stage: r.stage,
    code: r.code,
    message: r.message,
    payload: parseJson(r.payload),
    attempts: Number(r.attempts),
    updatedAt: Time.fromSql(r.updated_at),
  })

  const readRun = (row: {
    readonly id: string
    readonly pipeline: string
    readonly status: string
    readonly started_at: string
    readonly finished_at: string | null
    readonly stats: string
  }): Run => ({
    id: row.id,
    pipeline: row.pipeline,
    status: row.status as RunStatus,
    startedAt: Time.fromSql(row.started_at),
    finishedAt: Time.fromSqlOrNull(row.finished_at),
    stats: parseJson(row.stats),
  })

  const upsertCreated = async (trx: Db, batch: BatchCommit, now: string) => {
    const rows = lastByKey(batch.created, (r) => r.sourceKey)
    for (const part of chunks(rows, idMapChunk(kind))) {
      const insert = insertIdMap(
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
        ["target_type", "target_id", "payload_hash", "status", "batch_id", "updated_at"],
      ).execute()
    }
  }

  const upsertDeadLetters = async (
    trx: Db,
    pipeline: string,
    letters: BatchCommit["deadLetters"],
    now: string,
  ) => {
    const rows = lastByKey(letters ?? [], (d) => JSON.stringify([d.entity, d.sourceKey]))
    for (const part of chunks(rows, deadLetterChunk)) {
      const insert = trx.insertInto("dead_letters").values(
        part.map((d) => ({
          pipeline,
          entity: d.entity,
          source_key: d.sourceKey,
          stage: d.stage,
          code: d.code,
          message: d.message,
          payload: JSON.stringify(d.payload ?? null),
          attempts: 1,
          created_at: now,
          updated_at: now,
        })),
      )
      await upsert(
        kind,
        insert,
        ["pipeline", "entity", "source_key"],
        ["stage", "code", "message", "payload", "updated_at"],
        // The existing row's count (qualified, which both dialects read as the old row).
        { attempts: sql`dead_letters.attempts + 1` },
      ).execute()
    }
  }

  const upsertCheckpoint = (trx: Db, pipeline: string, entity: string, cursor: Json, now: string) => {
    const insert = trx
      .insertInto("checkpoints")
      .values({ pipeline, entity, cursor_value: JSON.stringify(cursor), updated_at: now })
    return upsert(kind, insert, ["pipeline", "entity"], ["cursor_value", "updated_at"]).execute()
  }

  /** One atomic statement on PostgreSQL: insert, or take over when the lease ran out, or renew. */
  const acquirePostgres = async (name: string, owner: string, now: string, expires: string) => {
    const taken = await db
      .insertInto("locks")
      .values({ name, owner, acquired_at: now, expires_at: expires })
      .onConflict((oc) =>
        oc
          .column("name")
          .doUpdateSet((eb) => ({
            owner: eb.ref("excluded.owner"),
            expires_at: eb.ref("excluded.expires_at"),
            acquired_at: sql`case when locks.owner = excluded.owner then locks.acquired_at else excluded.acquired_at end`,
          }))
          .where((eb) =>
            eb.or([
              eb("locks.owner", "=", eb.ref("excluded.owner")),
              eb("locks.expires_at", "<=", eb.ref("excluded.acquired_at")),
            ]),
          ),
      )
      .returning("owner")
      .executeTakeFirst()
    return taken !== undefined
  }

  /**
   * MySQL has no conditional upsert that reports whether it took the row, so: `insert ignore` for a
   * lock nobody has taken yet, else a transaction that locks the row (`for update`) and decides.
   * Read committed keeps InnoDB from taking gap locks on a missing row; the deadlocks that racing
   * inserts and deletes can still cause are retried, as MySQL asks.
   */
  const acquireMysql = async (
    name: string,
    owner: string,
    now: string,
    expires: string,
  ): Promise<boolean> => {
    for (let round = 0; ; round++) {
      try {
        const inserted = await db
          .insertInto("locks")
          .ignore()
          .values({ name, owner, acquired_at: now, expires_at: expires })
          .executeTakeFirst()
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return true
        const decided = await db
          .transaction()
          .setIsolationLevel("read committed")
          .execute(async (trx) => {
            const row = await trx
              .selectFrom("locks")
              .select(["owner", sql<number | string>`expires_at <= ${now}`.as("expired")])
              .where("name", "=", name)
              .forUpdate()
              .executeTakeFirst()
            if (row === undefined) return undefined
            if (row.owner !== owner && Number(row.expired) !== 1) return false
            await trx
              .updateTable("locks")
              .set({ owner, expires_at: expires, ...(row.owner === owner ? {} : { acquired_at: now }) })
              .where("name", "=", name)
              .execute()
            return true
          })
        // `undefined`: released between the two statements; take it from the top.
        if (decided !== undefined) return decided
      } catch (e) {
        if (round >= 20 || !isMysqlRace(e)) throw e
        await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 20))
      }
    }
  }

  return {
    dialect: kind,
    location,
    migrated,

    startRun: (pipeline) =>
      attempt("starting a run", async (now) => {
        const run: Run = {
          id: randomUUID(),
          pipeline,
          status: "running",
          startedAt: new Date(now),
          finishedAt: null,
          stats: {},
        }
        await db
          .insertInto("runs")
          .values({
            id: run.id,
            pipeline,
            status: run.status,
            started_at: Time.toSql(now),
            finished_at: null,
            stats: "{}",
          })
          .execute()
        return run
      }),

    finishRun: (id, status, stats) =>
      attempt("finishing a run", async (now) => {
        await db
          .updateTable("runs")
          .set({ status, finished_at: Time.toSql(now), stats: JSON.stringify(stats ?? null) })
          .where("id", "=", id)
          .execute()
      }),

    abandonRuns: (pipeline) =>
      attempt("closing runs whose process died", async (now) => {
        const result = await db
          .updateTable("runs")
          .set({
            status: "interrupted",
            finished_at: Time.toSql(now),
            stats: JSON.stringify({
              error: "the process running it stopped without finishing (killed or crashed)",
            }),
          })
          .where("pipeline", "=", pipeline)
          .where("status", "=", "running")
          .executeTakeFirst()
        return Number(result.numUpdatedRows)
      }),

    recentRuns: (pipeline, limit) =>
      attempt("listing runs", async () => {
        const rows = await db
          .selectFrom("runs")
          .select([
            "id",
            "pipeline",
            "status",
            Time.read(kind, sql.ref("started_at")).as("started_at"),
            Time.read(kind, sql.ref("finished_at")).as("finished_at"),
            "stats",
          ])
          .where("pipeline", "=", pipeline)
          .orderBy("runs.started_at", "desc")
          .orderBy("id", "desc")
          .limit(Math.max(0, Math.floor(limit)))
          .execute()
        return rows.map(readRun)
      }),

    lookup: (pipeline, entity, keys) =>
      attempt("looking up the id map", async () => {
        const found = new Map<SourceKey, IdMapEntry>()
        for (const part of chunks(unique(keys), lookupChunk)) {
          const rows = await db
            .selectFrom("id_map")
            .select(idMapColumns(kind))
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
        return query === undefined ? [] : (await query.select(idMapColumns(kind)).execute()).map(toEntry)
      }),

    markPending: (pipeline, entity, batchId, rows) =>
      attempt("recording a batch as pending", async (millis) => {
        if (rows.length === 0) return
        checkKeys(
          entity,
          rows.map((r) => r.sourceKey),
        )
        const now = Time.toSql(millis)
        const write = async (trx: Db) => {
          for (const part of chunks(
            lastByKey(rows, (r) => r.sourceKey),
            idMapChunk(kind),
          )) {
            const insert = insertIdMap(
              trx,
              kind,
              part.map((r) => ({
                pipeline,
                entity,
                source_key: r.sourceKey,
                target_type: r.targetType,
                target_id: null,
                payload_hash: r.payloadHash,
                status: "pending",
                batch_id: batchId,
                updated_at: now,
              })),
            )
            // A `created` row keeps everything: its record exists in the target already.
            await (mysql
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
        await (rows.length > idMapChunk(kind) ? inTransaction(write) : write(db))
        await keepStatistics(rows.length)
      }),

    pending: (pipeline, entity) =>
      attempt("listing pending id-map rows", async () => {
        const rows = await db
          .selectFrom("id_map")
          .select(idMapColumns(kind))
          .where("pipeline", "=", pipeline)
          .where("entity", "=", entity)
          .where("status", "=", "pending")
          .orderBy("batch_id")
          .orderBy("source_key")
          .execute()
        return rows.map(toEntry)
      }),

    commit: (batch) =>
      attempt(`committing a batch of ${batch.entity}`, async (millis) => {
        const now = Time.toSql(millis)
        const released = unique(batch.released ?? [])
        const recovered = unique(batch.recovered ?? [])
        const letters = batch.deadLetters ?? []
        checkKeys(
          batch.entity,
          batch.created.map((r) => r.sourceKey),
        )
        for (const d of letters) checkKeys(d.entity, [d.sourceKey])
        if (
          batch.created.length === 0 &&
          released.length === 0 &&
          recovered.length === 0 &&
          letters.length === 0 &&
          batch.checkpoint === undefined
        ) {
          return
        }
        await inTransaction(async (trx) => {
          await deleteKeys(trx, "id_map", { ...batch, pending: true }, released)
          await upsertCreated(trx, batch, now)
          await deleteKeys(trx, "dead_letters", batch, recovered)
          await upsertDeadLetters(trx, batch.pipeline, letters, now)
          if (batch.checkpoint !== undefined) {
            await upsertCheckpoint(trx, batch.pipeline, batch.entity, batch.checkpoint, now)
          }
        })
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

    checkpoint: (pipeline, entity) =>
      attempt("reading a checkpoint", async () => {
        const row = await db
          .selectFrom("checkpoints")
          .select("cursor_value")
          .where("pipeline", "=", pipeline)
          .where("entity", "=", entity)
          .executeTakeFirst()
        return row === undefined ? Option.none() : Option.some(parseJson(row.cursor_value))
      }),

    checkpoints: (pipeline) =>
      attempt("reading checkpoints", async () => {
        const rows = await db
          .selectFrom("checkpoints")
          .select(["entity", "cursor_value", Time.read(kind, sql.ref("updated_at")).as("updated_at")])
          .where("pipeline", "=", pipeline)
          .orderBy("entity")
          .execute()
        return rows.map((r) => ({
          entity: r.entity,
          cursor: parseJson(r.cursor_value),
          updatedAt: Time.fromSql(r.updated_at),
        }))
      }),

    deadLetters: (pipeline, options) =>
      attempt("listing dead letters", async () => {
        let query = db
          .selectFrom("dead_letters")
          .select(deadLetterColumns)
          .where("pipeline", "=", pipeline)
          .orderBy("entity")
          .orderBy("source_key")
        if (options?.entity !== undefined) query = query.where("entity", "=", options.entity)
        if (options?.limit !== undefined) query = query.limit(Math.max(0, Math.floor(options.limit)))
        return (await query.execute()).map(toDeadLetter)
      }),

    lookupDeadLetters: (pipeline, wanted) =>
      attempt("looking up dead letters", async () => {
        const query = wantedRows(db, "dead_letters", pipeline, wanted)
        return query === undefined ? [] : (await query.select(deadLetterColumns).execute()).map(toDeadLetter)
      }),

    deadLetterCount: (pipeline) =>
      attempt("counting dead letters", async () => {
        const row = await db
          .selectFrom("dead_letters")
          .select((eb) => eb.fn.countAll<number | string | bigint>().as("count"))
          .where("pipeline", "=", pipeline)
          .executeTakeFirst()
        return Number(row?.count ?? 0)
      }),

    reset: (pipeline, entity) =>
      attempt(entity === undefined ? `resetting pipeline ${pipeline}` : `resetting entity ${entity}`, () =>
        inTransaction(async (trx) => {
          for (const table of ["id_map", "checkpoints", "dead_letters"] as const) {
            let query = trx.deleteFrom(table).where("pipeline", "=", pipeline)
            if (entity !== undefined) query = query.where("entity", "=", entity)
            await query.execute()
          }
        }),
      ),

    acquireLock: (name, owner, leaseMs) =>
      attempt(`taking lock ${name}`, async (millis) => {
        checkLength("lock name", name)
        checkLength("lock owner", owner)
        const now = Time.toSql(millis)
        const expires = Time.toSql(millis + Math.max(0, Math.ceil(leaseMs)))
        return mysql ? acquireMysql(name, owner, now, expires) : acquirePostgres(name, owner, now, expires)
      }),

    releaseLock: (name, owner) =>
      attempt(`releasing lock ${name}`, async () => {
        await db.deleteFrom("locks").where("name", "=", name).where("owner", "=", owner).execute()
      }),

    loadCredential: (name) =>
      attempt(`reading credential ${name}`, async () => {
        const row = await db
          .selectFrom("credentials")
          .select("value")
          .where("name", "=", name)
          .executeTakeFirst()
        return row === undefined ? Option.none() : Option.some(row.value)
      }),

    saveCredential: (name, value) =>
      attempt(`storing credential ${name}`, async (millis) => {
        checkLength("credential name", name)
        const insert = db.insertInto("credentials").values({ name, value, updated_at: Time.toSql(millis) })
        await upsert(kind, insert, ["name"], ["value", "updated_at"]).execute()
      }),

    schemaMigrations: attempt("reading the schema version", async () => {
      const rows = await db
        .selectFrom("schema_migrations")
        .select(["version", "name", Time.read(kind, sql.ref("applied_at")).as("applied_at")])
        .orderBy("version")
        .execute()
      return rows.map((r) => ({
        version: Number(r.version),
        name: r.name,
        appliedAt: Time.fromSql(r.applied_at),
      }))
    }),

    lockHolder: (name) =>
      attempt(`reading lock ${name}`, async () => {
        const row = await db
          .selectFrom("locks")
          .select([
            "owner",
            Time.read(kind, sql.ref("acquired_at")).as("acquired_at"),
            Time.read(kind, sql.ref("expires_at")).as("expires_at"),
          ])
          .where("name", "=", name)
          .executeTakeFirst()
        return row === undefined
          ? Option.none()
          : Option.some({
              owner: row.owner,
              acquiredAt: Time.fromSql(row.acquired_at),
              expiresAt: Time.fromSql(row.expires_at),
            })
      }),
  }
}
