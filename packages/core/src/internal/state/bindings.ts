import { Option } from "effect"
import { sql } from "kysely"
import type { Binding, StateStore } from "../../StateStore.js"
import type { StoreContext } from "./context.js"
import { upsert } from "./dialect.js"
import { checkLength } from "./keys.js"
import * as Time from "./time.js"

/** Bindings: which target (portal) and sources each pipeline's state belongs to. */

const toBinding = (r: {
  pipeline: string
  target: string
  originator: string
  source: string | null
  bound_at: string
}): Binding => ({
  pipeline: r.pipeline,
  target: r.target,
  originator: r.originator,
  source: r.source,
  boundAt: Time.fromSql(r.bound_at),
})

/** The bindings' part of the store. */
export const make = ({
  db,
  kind,
  attempt,
}: StoreContext): Pick<StateStore, "binding" | "bindings" | "bind"> => {
  const select = () =>
    db
      .selectFrom("bindings")
      .select([
        "pipeline",
        "target",
        "originator",
        "source",
        Time.read(kind, sql.ref("bound_at")).as("bound_at"),
      ])
  return {
    binding: (pipeline) =>
      attempt(`reading the binding of ${pipeline}`, async () => {
        const row = await select().where("pipeline", "=", pipeline).executeTakeFirst()
        return row === undefined ? Option.none() : Option.some(toBinding(row))
      }),

    bindings: attempt("listing bindings", async () =>
      (await select().orderBy("pipeline").execute()).map(toBinding),
    ),

    bind: (binding) =>
      attempt(`binding ${binding.pipeline} to ${binding.target}`, async (millis) => {
        checkLength("pipeline name", binding.pipeline)
        const now = Time.toSql(millis)
        const insert = db.insertInto("bindings").values({
          pipeline: binding.pipeline,
          target: binding.target.slice(0, 255),
          originator: binding.originator.slice(0, 255),
          source: binding.source,
          bound_at: now,
          updated_at: now,
        })
        // A move (after `relink`) keeps the first binding's time only when nothing changed.
        await upsert(
          kind,
          insert,
          ["pipeline"],
          ["target", "originator", "source", "bound_at", "updated_at"],
        ).execute()
      }),
  }
}
