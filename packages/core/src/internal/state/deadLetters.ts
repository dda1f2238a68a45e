import { type Selectable, sql } from "kysely"
import type { BatchCommit, DeadLetter, StateStore } from "../../StateStore.js"
import type { StoreContext } from "./context.js"
import { chunks, type Db, lastByKey, parseJson, upsert } from "./dialect.js"
import { wantedRows } from "./keys.js"
import type { Database, Kind } from "./schema.js"
import * as Time from "./time.js"

/** Dead letters: the records that failed, with the stage, the reason and the record itself. */

/** Dead letters carry whole records, so fewer go in one statement than id-map rows. */
const rowsPerStatement = 200

const selectColumns = (kind: Kind) =>
  [
    "entity",
    "source_key",
    "stage",
    "code",
    "message",
    "payload",
    "attempts",
    Time.read(kind, sql.ref("updated_at")).as("updated_at"),
    Time.read(kind, sql.ref("dismissed_at")).as("dismissed_at"),
  ] as const

type DeadLetterRow = Omit<
  Selectable<Database["dead_letters"]>,
  "pipeline" | "created_at" | "attempts" | "dismissed_at"
> & {
  readonly dismissed_at: string | null
  // A count the driver may hand over as text.
  readonly attempts: number | string
}

const toDeadLetter = (r: DeadLetterRow): DeadLetter => ({
  entity: r.entity,
  sourceKey: r.source_key,
  stage: r.stage,
  code: r.code,
  message: r.message,
  payload: parseJson(r.payload),
  attempts: Number(r.attempts),
  updatedAt: Time.fromSql(r.updated_at),
  dismissedAt: r.dismissed_at === null ? null : Time.fromSql(r.dismissed_at),
})

/** Records a batch's failures; a key that failed before counts one more attempt (for `commit`). */
export const writeDeadLetters = async (
  trx: Db,
  kind: Kind,
  pipeline: string,
  letters: BatchCommit["deadLetters"],
  now: string,
) => {
  const rows = lastByKey(letters ?? [], (d) => JSON.stringify([d.entity, d.sourceKey]))
  for (const part of chunks(rows, rowsPerStatement)) {
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
      {
        // The existing row's count (qualified, which both dialects read as the old row).
        attempts: sql`dead_letters.attempts + 1`,
        // A dismissal covers the failure the user saw: a new reason (another code) counts again.
        // (Before `code` in the statement: MySQL assigns left to right, seeing earlier updates.)
        dismissed_at: sql`case when dead_letters.code = ${kind === "mysql" ? sql`values(code)` : sql`excluded.code`} then dead_letters.dismissed_at else null end`,
      },
    ).execute()
  }
}

/** The dead letters' part of the store. */
export const make = ({
  db,
  kind,
  attempt,
}: StoreContext): Pick<
  StateStore,
  "deadLetters" | "lookupDeadLetters" | "deadLetterCount" | "dismissDeadLetters"
> => ({
  deadLetters: (pipeline, options) =>
    attempt("listing dead letters", async () => {
      let query = db
        .selectFrom("dead_letters")
        .select(selectColumns(kind))
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
      return query === undefined ? [] : (await query.select(selectColumns(kind)).execute()).map(toDeadLetter)
    }),

  deadLetterCount: (pipeline) =>
    attempt("counting dead letters", async () => {
      const row = await db
        .selectFrom("dead_letters")
        .select((eb) => eb.fn.countAll<number | string | bigint>().as("count"))
        .where("pipeline", "=", pipeline)
        .where("dismissed_at", "is", null)
        .executeTakeFirst()
      return Number(row?.count ?? 0)
    }),

  dismissDeadLetters: (pipeline, selection) =>
    attempt("dismissing dead letters", async (millis) => {
      let dismissed = 0
      const keys = selection.keys === undefined ? [undefined] : chunks(selection.keys, rowsPerStatement)
      for (const part of keys) {
        let query = db
          .updateTable("dead_letters")
          .set({ dismissed_at: Time.toSql(millis) })
          .where("pipeline", "=", pipeline)
          .where("dismissed_at", "is", null)
        if (selection.entity !== undefined) query = query.where("entity", "=", selection.entity)
        if (selection.code !== undefined) query = query.where("code", "=", selection.code)
        if (part !== undefined) {
          if (part.length === 0) continue
          query = query.where("source_key", "in", [...part])
        }
        const result = await query.executeTakeFirst()
        dismissed += Number(result.numUpdatedRows)
      }
      return dismissed
    }),
})
