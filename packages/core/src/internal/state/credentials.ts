import { Option } from "effect"
import type { StateStore } from "../../StateStore.js"
import type { StoreContext } from "./context.js"
import { upsert } from "./dialect.js"
import { checkLength } from "./keys.js"
import * as Time from "./time.js"

/** Credentials a sink keeps between runs (a rotating OAuth token), opaque to the store. */

/** The credentials' part of the store. */
export const make = ({
  db,
  kind,
  attempt,
}: StoreContext): Pick<StateStore, "loadCredential" | "saveCredential"> => ({
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
})
