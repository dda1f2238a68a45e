import { randomUUID } from "node:crypto"
import { type Selectable, sql } from "kysely"
import type { Run, RunStatus, StateStore } from "../../StateStore.js"
import type { StoreContext } from "./context.js"
import { parseJson } from "./dialect.js"
import type { Database } from "./schema.js"
import * as Time from "./time.js"

/** Runs: one row per run of a pipeline, from `running` to how it ended, with its figures. */

const toRun = (row: Selectable<Database["runs"]>): Run => ({
  id: row.id,
  pipeline: row.pipeline,
  status: row.status as RunStatus,
  startedAt: Time.fromSql(row.started_at),
  finishedAt: Time.fromSqlOrNull(row.finished_at),
  stats: parseJson(row.stats),
})

/** The runs' part of the store. */
export const make = ({
  db,
  kind,
  attempt,
}: StoreContext): Pick<StateStore, "startRun" | "finishRun" | "abandonRuns" | "recentRuns"> => ({
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

  abandonRuns: (pipeline, lastSeen) =>
    attempt("closing runs whose process died", async (now) => {
      const ended = lastSeen === undefined ? now : Math.min(now, lastSeen.getTime())
      const result = await db
        .updateTable("runs")
        .set({
          status: "crashed",
          // Never before the run started: a run that died before its first renewal lasted ~0.
          finished_at: sql`case when started_at > ${Time.toSql(ended)} then started_at else ${Time.toSql(ended)} end`,
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
      return rows.map(toRun)
    }),
})
