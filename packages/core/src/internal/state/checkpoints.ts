import { Option } from "effect"
import { sql } from "kysely"
import type { Json } from "../../Json.js"
import type { StateStore } from "../../StateStore.js"
import type { StoreContext } from "./context.js"
import { type Db, parseJson, upsert } from "./dialect.js"
import type { Kind } from "./schema.js"
import * as Time from "./time.js"

/** Checkpoints: where each entity's next read starts, advanced only by `commit`. */

/** Sets an entity's checkpoint (for `commit`, in its transaction). */
export const writeCheckpoint = (
  trx: Db,
  kind: Kind,
  pipeline: string,
  entity: string,
  cursor: Json,
  now: string,
) => {
  const insert = trx
    .insertInto("checkpoints")
    .values({ pipeline, entity, cursor_value: JSON.stringify(cursor), updated_at: now })
  return upsert(kind, insert, ["pipeline", "entity"], ["cursor_value", "updated_at"]).execute()
}

/** The checkpoints' part of the store. */
export const make = ({
  db,
  kind,
  attempt,
}: StoreContext): Pick<StateStore, "checkpoint" | "checkpoints" | "forgetCheckpoint"> => ({
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

  forgetCheckpoint: (pipeline, entity) =>
    attempt("forgetting a checkpoint", async () => {
      await db
        .deleteFrom("checkpoints")
        .where("pipeline", "=", pipeline)
        .where("entity", "=", entity)
        .execute()
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
})
