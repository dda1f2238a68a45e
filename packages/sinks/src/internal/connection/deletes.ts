/**
 * `delete`: items removed from the portal through `batch`, up to 50 `crm.item.delete` commands per
 * request, each answering on its own. An item the portal no longer has (`NOT_FOUND`) counts as
 * deleted, so a deletion interrupted after the portal applied it may simply be sent again. In a dry
 * run nothing is sent and each item answers its own id.
 */
import * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import type * as Target from "../../Target.js"
import * as Commands from "./commands.js"
import { asTarget, chunks, fieldOf, splitOnRefusal } from "./requests.js"

/** Commands per `batch`. */
export const batchSize = Commands.batchSize

/** Whether an answer says the item is not there (already deleted, or never was). */
const isNotFound = (code: string, message: string): boolean =>
  code === "NOT_FOUND" || /not found/i.test(message)

/** One `batch` of `crm.item.delete` commands; split when the portal refuses it as a whole. */
const deleteBatch = (
  client: Bitrix24Client.Client,
  target: Target.Target,
  ids: ReadonlyArray<string>,
): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> =>
  Commands.send(
    client,
    "crm.item.delete",
    ids.map((id) => ({ entityTypeId: target.entityTypeId, id })),
  ).pipe(
    Effect.map((answers) =>
      answers.map((a, i): Sink.ItemResult => {
        if (a._tag === "Ok") return Sink.written(ids[i]!)
        if (a._tag === "Error") {
          if (isNotFound(a.code, a.message)) return Sink.written(ids[i]!)
          return Sink.rejected(a.code, a.message, fieldOf(a.message))
        }
        return Sink.rejected("NO_RESULT", "the batch answered neither a result nor an error for this item")
      }),
    ),
    // A whole request refused (HTTP 400) alone is only its own item's failure; not found is done.
    splitOnRefusal(ids, (part) => deleteBatch(client, target, part), true),
    Effect.map((results) =>
      results.map((r, i) =>
        r._tag === "Rejected" && isNotFound(r.code, r.message) ? Sink.written(ids[i]!) : r,
      ),
    ),
  )

/** The connection's `delete`. */
export const make =
  (
    client: Bitrix24Client.Client,
    options: { readonly dryRun: boolean },
  ): NonNullable<Sink.Connection<Target.Target>["delete"]> =>
  (target0, items) =>
    Effect.gen(function* () {
      const target = yield* asTarget(target0)
      const results: Array<Sink.ItemResult> = []
      for (const group of chunks(items, batchSize)) {
        const ids = group.map((item) => item.targetId)
        if (options.dryRun) results.push(...ids.map((id) => Sink.written(id)))
        else results.push(...(yield* deleteBatch(client, target, ids)))
      }
      return results
    })
