/**
 * `plan`: before anything is written, each entity's mapping is checked against the portal's
 * fields (`crm.item.fields`): unknown names with the nearest real one, required fields left unset,
 * a missing identity field, fields the sink sets itself, imported history out of order. The
 * report ends with the rate, the batch sizes and an estimate of the time to write the counted
 * records (creates 20 per request, updates 50 per request).
 */
import type * as Sink from "@b24etl/core/Sink"
import { Duration, Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as RateLimiter from "../../RateLimiter.js"
import * as Target from "../../Target.js"
import * as History from "../history.js"
import * as Suggest from "../suggest.js"
import * as Imports from "./imports.js"
import { asTarget } from "./requests.js"
import type { TypeFields } from "./typeFields.js"
import * as Updates from "./updates.js"

/** What the mapping of one entity gets wrong against the fields `known` of its target. */
const fieldProblems = (
  entity: Sink.PlanEntity<Target.Target>,
  target: Target.Target,
  known: TypeFields,
): ReadonlyArray<Sink.PlanProblem> => {
  const problems: Array<Sink.PlanProblem> = []
  const names = [...known.byName.keys()]
  for (const field of entity.fields) {
    if (known.byName.has(field)) continue
    if ((field.startsWith("UF_") || field.startsWith("PARENT_ID_")) && known.byUpperName.has(field)) continue
    const nearest = Suggest.closest(field, names, known.byUpperName)
    problems.push({
      entity: entity.entity,
      field,
      message: `${target.name} has no field "${field}"${nearest === undefined ? "" : `; did you mean "${nearest}"?`} (the portal ignores unknown fields, so its values would be lost)`,
    })
  }
  if (entity.fields.includes(History.field) && entity.inOrder !== true)
    problems.push(History.planProblem(entity.entity))
  const identity = Target.identityField(target)
  if (!known.byName.has(identity)) {
    problems.push({
      entity: entity.entity,
      field: identity,
      message: `${target.name} has no "${identity}" field on this portal: items an interrupted call created cannot be found, so a retry could duplicate them`,
    })
  }
  for (const [name, info] of known.byName) {
    if (info.isRequired && !info.isReadOnly && !entity.fields.includes(name)) {
      problems.push({
        entity: entity.entity,
        field: name,
        message: `${target.name} requires "${name}" (${info.title}) but the mapping does not set it: every item would be rejected`,
      })
    }
  }
  for (const own of target.identity === "origin" ? ["originatorId", "originId"] : ["xmlId"]) {
    if (entity.fields.includes(own)) {
      problems.push({
        entity: entity.entity,
        field: own,
        message: `the sink sets "${own}" itself (it is how interrupted writes are found); the mapping's value is replaced`,
      })
    }
  }
  return problems
}

/** The connection's `plan`. */
export const make =
  (
    client: Bitrix24Client.Client,
    options: {
      readonly dryRun: boolean
      readonly concurrency: number
      readonly packing?: "auto" | "off" | undefined
    },
    typeFields: (target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>,
  ): Sink.Connection<Target.Target>["plan"] =>
  (entities) =>
    Effect.gen(function* () {
      const problems: Array<Sink.PlanProblem> = []
      let requests = 0
      let counted = false
      const targets = yield* Effect.forEach(entities, (entity) => asTarget(entity.target))
      // Every type's fields at once: the round trips before the first write overlap instead of
      // following one another.
      const types = [...new Map(targets.map((t) => [t.entityTypeId, t])).values()]
      const fields = yield* Effect.forEach(
        types,
        (target) =>
          typeFields(target).pipe(
            Effect.map((known) => [target.entityTypeId, known] as const),
            Effect.catchIf(
              (e) => e.reason === "fatal" && e.code === "NOT_FOUND",
              () => Effect.succeed([target.entityTypeId, undefined] as const),
            ),
          ),
        { concurrency: "unbounded" },
      )
      const fieldsByType = new Map<number, TypeFields | undefined>(fields)
      for (const [i, entity] of entities.entries()) {
        const target = targets[i]!
        const known = fieldsByType.get(target.entityTypeId)
        if (entity.count !== undefined) {
          counted = true
          requests += Math.ceil(entity.count / Imports.batchSize)
        }
        if (entity.updates !== undefined) requests += Math.ceil(entity.updates / Updates.batchSize)
        if (known === undefined) {
          problems.push({
            entity: entity.entity,
            message: `${target.name} (entityTypeId ${target.entityTypeId}) does not exist on ${client.portal}`,
          })
          continue
        }
        problems.push(...fieldProblems(entity, target, known))
      }
      const limits = client.limits
      const estimate =
        counted && limits.burst > 0
          ? Duration.millis((Math.max(0, requests - limits.burst) / limits.rate) * 1000)
          : undefined
      const notes = [
        `portal: ${client.portal}`,
        `rate: ${RateLimiter.describe(limits)} (shared by every sink on this portal in the process)`,
        `batches: ${Imports.batchSize} items per crm.item.batchImport, ${Updates.batchSize} updates per batch, ${options.concurrency} in flight`,
        ...(options.packing === "off"
          ? []
          : [
              "packing: auto, up to 50 crm.item.batchImport commands per batch once a probe shows the portal takes them; the estimate assumes plain imports",
            ]),
        ...(counted ? [`requests to write the counted records: ${requests}`] : []),
        ...(options.dryRun ? ["dry run: create/update answer fake negative ids and send nothing"] : []),
      ]
      return { problems, estimate, notes }
    })
