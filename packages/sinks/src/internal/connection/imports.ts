/**
 * `create`: new items through `crm.item.batchImport`, at most 20 per command, each stamped with
 * its identity (`originatorId` + `originId`, or `xmlId`) so an interrupted call can be looked up.
 * With packing (`packedImports.ts`) several commands go in one `batch` request; without it each is a
 * request of its own. The commands of one `create` go in order, one request after the other, so the
 * items reach the portal in the order given (history imports). Per-item errors come back as
 * `Rejected`; a command refused as a whole is halved until the bad item is alone. Every request
 * waits for room in the method's operating budget and reserves its expected cost while in flight.
 * In a dry run nothing is sent and each item gets a fake negative id.
 */
import * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as OperatingTime from "../../OperatingTime.js"
import * as Target from "../../Target.js"
import * as History from "../history.js"
import * as Links from "./links.js"
import * as Packed from "./packedImports.js"
import { type Prepared, prepareAll, prepareFields } from "./prepare.js"
import { asTarget, chunks, fieldOf, isObject, sinkName, splitOnRefusal } from "./requests.js"
import type { TypeFields } from "./typeFields.js"

/** Items per `crm.item.batchImport` (the portal refuses 21). */
export const batchSize = 20

/** The items of one import's `result`, one result each in the order sent. */
const itemResults = (
  client: Bitrix24Client.Client,
  result: unknown,
  sent: number,
): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> => {
  const items = isObject(result) && Array.isArray(result.items) ? result.items : undefined
  if (items === undefined || items.length !== sent) {
    return Effect.fail(
      new Sink.SinkError({
        sink: sinkName,
        reason: "ambiguous",
        code: "UNEXPECTED_ANSWER",
        message: `crm.item.batchImport on ${client.portal} answered ${items?.length ?? "no"} results for ${sent} items`,
      }),
    )
  }
  return Effect.succeed(
    items.map((r): Sink.ItemResult => {
      if (isObject(r) && isObject(r.item) && r.item.id !== undefined && r.item.id !== null) {
        return Sink.written(String(r.item.id))
      }
      const code = isObject(r) && typeof r.error === "string" ? r.error : "UNKNOWN_ERROR"
      const message =
        isObject(r) && typeof r.error_description === "string" ? r.error_description : "the portal gave no id"
      return Sink.rejected(code, message, fieldOf(message))
    }),
  )
}

/** What a plain import of `items` items is expected to spend of the method's budget. */
const plainCharges = (client: Bitrix24Client.Client, items: number): OperatingTime.Charges => {
  const perItem = client.operating.perItemSeconds(Packed.importMethod)
  return [{ method: Packed.importMethod, seconds: client.operating.counted((perItem ?? 0) * items) }]
}

/** One `crm.item.batchImport`; a request the portal refuses as a whole is split to find the bad item. */
const importBatch = (
  client: Bitrix24Client.Client,
  target: Target.Target,
  data: ReadonlyArray<Record<string, unknown>>,
): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> =>
  OperatingTime.withBudget(
    client.operating,
    () => ({ charges: plainCharges(client, data.length), size: data.length }),
    () =>
      client
        .call(Packed.importMethod, { entityTypeId: target.entityTypeId, data }, { idempotent: false })
        .pipe(
          Effect.tap((answer) => client.operating.record(Packed.importMethod, answer.time, data.length)),
          Effect.flatMap((answer) => itemResults(client, answer.result, data.length)),
        ),
  ).pipe(splitOnRefusal(data, (part) => importBatch(client, target, part), false))

/**
 * An item's fields for the portal, with the identity the sink sets itself. Links without a value
 * are left out: a new item has none to clear.
 */
const prepareCreate = (
  target: Target.Target,
  originator: string,
  known: TypeFields,
  item: Sink.SinkItem,
): Prepared => {
  const prepared = prepareFields(item.fields, known)
  if (prepared._tag !== "Ok") return prepared
  const fields = Links.forCreate(prepared.fields)
  if (target.identity === "origin") {
    fields.originatorId = originator
    fields.originId = item.originId
  } else {
    fields.xmlId = Target.identityValue(target, originator, item.originId)
  }
  return { _tag: "Ok", fields }
}

/**
 * Whether this connection packs imports: decided once, by the probe, on the first packable call
 * or when the runner says creates are coming (`readyToCreate`), whichever is first.
 */
export type PackingDecision = ReturnType<typeof packingDecision>

export const packingDecision = (client: Bitrix24Client.Client, packing: Packed.Packing) => {
  let decided: boolean | undefined = packing === "off" ? false : undefined
  const lock = Effect.unsafeMakeSemaphore(1)
  return {
    /** Whether imports of `target` go packed (runs the probe the first time). */
    enabled: (target: Target.Target): Effect.Effect<boolean> =>
      decided !== undefined
        ? Effect.succeed(decided)
        : lock.withPermits(1)(
            Effect.suspend(() =>
              decided !== undefined
                ? Effect.succeed(decided)
                : Effect.tap(Packed.probe(client, target.entityTypeId), (accepted) => {
                    decided = accepted
                  }),
            ),
          ),
    /** The portal refused a nested import after all: plain imports from now on. */
    refused: Effect.sync(() => {
      decided = false
    }),
  }
}

/** The connection's `create`: one per connection, as it keeps the imported history's order. */
export const make = (
  client: Bitrix24Client.Client,
  options: {
    readonly originator: string
    readonly dryRun: boolean
    readonly packing: PackingDecision
  },
  typeFields: (target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>,
): Sink.Connection<Target.Target>["create"] => {
  const { originator, dryRun, packing } = options
  const history = History.tracker()
  let fakeIds = 0
  const fakeId = (): Sink.ItemResult => Sink.written(String(-++fakeIds))
  return (target0, items) =>
    Effect.gen(function* () {
      const target = yield* asTarget(target0)
      const known = yield* typeFields(target)
      const { results, ok, fieldsAt } = prepareAll(items, (item) =>
        prepareCreate(target, originator, known, item),
      )
      /** Records what came back for the items at `group`, in order. */
      const settle = (group: ReadonlyArray<number>, answers: ReadonlyArray<Sink.ItemResult>) =>
        group.forEach((index, j) => {
          const answer = History.explain(answers[j]!)
          results[index] = answer
          if (answer._tag === "Written") history.written(target.entityTypeId, fieldsAt(index))
        })
      // The items of one command that may go: an item whose createdTime would arrive out of order is
      // refused here, saying why.
      const inOrder = (command: ReadonlyArray<number>): ReadonlyArray<number> => {
        const refusals = history.check(target.entityTypeId, command.map(fieldsAt))
        return command.filter((index, j) => {
          const refusal = refusals[j]
          if (refusal !== undefined) results[index] = refusal
          return refusal === undefined
        })
      }
      const queue = [...chunks(ok, Packed.commandSize)]
      if (dryRun) {
        for (const command of queue) {
          const group = inOrder(command)
          settle(group, group.map(fakeId))
        }
        return results
      }
      let packed = queue.length > 1 && (yield* packing.enabled(target))
      while (queue.length > 0) {
        if (!packed) {
          const group = inOrder(queue.shift()!)
          if (group.length > 0) settle(group, yield* importBatch(client, target, group.map(fieldsAt)))
          continue
        }
        const sent = yield* OperatingTime.withBudget(
          client.operating,
          (now) => Packed.size(client.operating, queue.length, now),
          (k) =>
            Effect.gen(function* () {
              const commands = queue
                .splice(0, k)
                .map(inOrder)
                .filter((c) => c.length > 0)
              if (commands.length === 0) return []
              const outcomes = yield* Packed.send(
                client,
                target,
                commands.map((c) => c.map(fieldsAt)),
              )
              return commands.map((command, i) => ({ command, outcome: outcomes[i]! }))
            }),
        )
        const again: Array<ReadonlyArray<number>> = []
        for (const { command, outcome } of sent) {
          if (outcome._tag === "Imported") {
            settle(command, yield* itemResults(client, outcome.result, command.length))
          } else if (outcome._tag === "NotRun") {
            again.push(command)
          } else {
            // Refused as a whole (nothing created): on its own, halved until the bad item is alone.
            // A portal that refuses the nesting itself after all gets plain imports from now on.
            if (outcome.error._tag === "Bitrix24FatalError") {
              packed = false
              yield* packing.refused
            }
            settle(command, yield* importBatch(client, target, command.map(fieldsAt)))
          }
        }
        queue.unshift(...again)
      }
      return results
    })
}
