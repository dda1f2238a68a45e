/**
 * Imported history: an administrator may import `createdTime` (and `createdBy`...), and
 * Bitrix24 keeps it only in ascending order per CRM type. The portal refuses an item created
 * before one it imported earlier with a bare `Invalid value for field "createdTime"`; this
 * module says why and what to do instead.
 */
import * as Sink from "@b24etl/core/Sink"

export const field = "createdTime"

export const code = "CREATED_TIME_ORDER"

/** How to import history, for messages. */
export const howTo =
  'read the source in creation order (e.g. cursor: "created_at") and set inOrder: true on the entity, so batches are sent one at a time in that order'

/** The plan's problem when a mapping sets `createdTime` on an entity created out of order. */
export const planProblem = (entity: string): Sink.PlanProblem => ({
  entity,
  field,
  message: `Bitrix24 keeps an imported createdTime only when items arrive in ascending createdTime; ${howTo}`,
})

/** The portal's refusal of a `createdTime`, with the reason it leaves out. */
export const explain = (result: Sink.ItemResult): Sink.ItemResult =>
  result._tag === "Rejected" && result.field === field
    ? {
        ...result,
        message: `${result.message}: Bitrix24 refuses a createdTime in the future or earlier than one it imported before; ${howTo}`,
      }
    : result

/** The fields only an import sets (who and when created, changed, moved). */
export const importOnly: ReadonlyArray<string> = [
  "createdTime",
  "createdBy",
  "updatedTime",
  "updatedBy",
  "movedTime",
  "movedBy",
]

/** A mapping's fields for `crm.item.update`, where the history fields are read-only. */
export const withoutHistory = (
  mapped: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> => {
  if (!importOnly.some((f) => f in mapped)) return mapped
  const rest: Record<string, unknown> = { ...mapped }
  for (const f of importOnly) delete rest[f]
  return rest
}

const timeOf = (fields: Readonly<Record<string, unknown>>): number | undefined => {
  const value = fields[field]
  if (typeof value !== "string") return undefined
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? undefined : ms
}

/**
 * The latest `createdTime` this connection imported per CRM type, so an item that would arrive
 * out of order is refused before it is sent, with the two times in the message.
 */
export const tracker = () => {
  const latest = new Map<number, { readonly ms: number; readonly text: string }>()
  return {
    /** Refusals (or undefined) for a batch about to be sent, in send order. */
    check: (
      entityTypeId: number,
      batch: ReadonlyArray<Readonly<Record<string, unknown>>>,
    ): ReadonlyArray<Sink.ItemResult | undefined> => {
      let last = latest.get(entityTypeId)
      return batch.map((fields) => {
        const ms = timeOf(fields)
        if (ms === undefined) return undefined
        if (last !== undefined && ms < last.ms)
          return Sink.rejected(
            code,
            `createdTime ${String(fields[field])} is earlier than ${last.text}, imported before it: Bitrix24 takes history only in ascending createdTime; ${howTo}`,
            field,
          )
        last = { ms, text: String(fields[field]) }
        return undefined
      })
    },
    /** Notes what the portal created. */
    written: (entityTypeId: number, fields: Readonly<Record<string, unknown>>): void => {
      const ms = timeOf(fields)
      const last = latest.get(entityTypeId)
      if (ms !== undefined && (last === undefined || ms > last.ms))
        latest.set(entityTypeId, { ms, text: String(fields[field]) })
    },
  }
}
