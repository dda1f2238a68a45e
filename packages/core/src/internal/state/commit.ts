import type { StateStore } from "../../StateStore.js"
import { writeCheckpoint } from "./checkpoints.js"
import type { StoreContext } from "./context.js"
import { writeDeadLetters } from "./deadLetters.js"
import { moveStatus, writeCreated } from "./idMap.js"
import { checkKeys, deleteKeys, unique } from "./keys.js"
import * as Time from "./time.js"

/**
 * Committing a batch: its id-map rows, dead letters and the entity's checkpoint in one
 * transaction, so a crash leaves either all of a batch's results or none.
 */
export const make =
  ({ kind, attempt, inTransaction }: StoreContext): StateStore["commit"] =>
  (batch) =>
    attempt(`committing a batch of ${batch.entity}`, async (millis) => {
      const now = Time.toSql(millis)
      const released = unique(batch.released ?? [])
      const recovered = unique(batch.recovered ?? [])
      const letters = batch.deadLetters ?? []
      const deleting = batch.deleting ?? []
      const deleted = unique(batch.deleted ?? [])
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
        deleting.length === 0 &&
        deleted.length === 0 &&
        batch.checkpoint === undefined
      ) {
        return
      }
      await inTransaction(async (trx) => {
        // Released keys failed: their pending rows go, and their dead letters come below.
        await deleteKeys(trx, "id_map", { ...batch, pending: true }, released)
        await writeCreated(trx, kind, batch, now)
        await moveStatus(trx, batch, { from: "created", to: "deleting" }, deleting, now)
        await moveStatus(
          trx,
          batch,
          { from: "deleting", to: "deleted" },
          deleted.map((sourceKey) => ({ sourceKey })),
          now,
        )
        // Recovered keys were written now, so they leave the dead letters.
        await deleteKeys(trx, "dead_letters", batch, recovered)
        await writeDeadLetters(trx, kind, batch.pipeline, letters, now)
        if (batch.checkpoint !== undefined) {
          await writeCheckpoint(trx, kind, batch.pipeline, batch.entity, batch.checkpoint, now)
        }
      })
    })
