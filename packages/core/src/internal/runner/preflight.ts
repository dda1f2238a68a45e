import { Effect } from "effect"
import type * as Pipeline from "../../Pipeline.js"
import type * as Sink from "../../Sink.js"
import type * as Source from "../../Source.js"
import { sampleFields } from "./plan.js"

/** Records read per entity to learn the fields its mapping produces, as `plan` does by default. */
const SAMPLE = 20

/**
 * Before a run reads for writing: the fields each entity's mapping produces on a sample of its
 * records, checked by the sink as `plan` checks them (Bitrix24: `crm.item.fields` once per
 * type). Answers the sink's problems; a run with any stops before it writes, because the portal
 * ignores an unknown field and its values would be lost without a word.
 */
export const checkFields = (
  pipeline: Pipeline.Pipeline,
  entities: ReadonlyArray<string>,
  sources: ReadonlyMap<Source.Source<unknown>, Source.Connection<unknown>>,
  sink: Sink.Connection,
): Effect.Effect<ReadonlyArray<Sink.PlanProblem>, Source.SourceError | Sink.SinkError> =>
  Effect.gen(function* () {
    const planned: Array<Sink.PlanEntity> = []
    for (const name of entities) {
      const entity = pipeline.entities[name]!
      const conn = sources.get(entity.from.source)!
      planned.push({
        entity: name,
        target: entity.to,
        fields: yield* sampleFields(pipeline.name, name, entity, conn, SAMPLE),
        inOrder: entity.inOrder === true,
      })
    }
    return (yield* sink.plan(planned)).problems
  })

/** The problems as one line each, `entity.field: message`, for the run's error. */
export const describeProblems = (problems: ReadonlyArray<Sink.PlanProblem>): string =>
  problems.map((p) => `${p.entity}${p.field === undefined ? "" : `.${p.field}`}: ${p.message}`).join("; ")
