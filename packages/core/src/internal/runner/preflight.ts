import { Effect, Either, Stream } from "effect"
import type * as Pipeline from "../../Pipeline.js"
import type * as Sink from "../../Sink.js"
import type * as Source from "../../Source.js"
import { prepare } from "./prepare.js"

/** Records read per entity to learn the fields its mapping produces, as `plan` does by default. */
const SAMPLE = 20

/**
 * The fields the mapping produces on the first records of an entity, or none when no record of
 * the sample was mapped (an empty source, or records all filtered out or deleted): then there is
 * nothing to check, and a field the target requires is not missing for lack of records.
 */
const mappedFields = (
  pipelineName: string,
  name: string,
  entity: Pipeline.AnyEntity,
  conn: Source.Connection<unknown>,
): Effect.Effect<ReadonlyArray<string> | undefined, Source.SourceError> =>
  Effect.gen(function* () {
    const fields = new Set<string>()
    let mapped = 0
    const preparer = prepare(pipelineName, name, entity)
    yield* conn.read(entity.from.spec, { limit: SAMPLE }).pipe(
      Stream.runForEach((record) =>
        preparer.one(record).pipe(
          Effect.map((o) => {
            if (o._tag !== "Prepared" || o.deleted !== false) return
            mapped++
            for (const f of [...Object.keys(o.fields), ...Object.keys(o.deferred)]) fields.add(f)
          }),
        ),
      ),
    )
    return mapped === 0 ? undefined : [...fields].sort()
  })

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
      const fields = yield* mappedFields(pipeline.name, name, entity, sources.get(entity.from.source)!)
      if (fields !== undefined)
        planned.push({ entity: name, target: entity.to, fields, inOrder: entity.inOrder === true })
    }
    return planned.length === 0 ? [] : (yield* sink.plan(planned)).problems
  })

/** The problems as one line each, `entity.field: message`, for the run's error. */
export const describeProblems = (problems: ReadonlyArray<Sink.PlanProblem>): string =>
  problems.map((p) => `${p.entity}${p.field === undefined ? "" : `.${p.field}`}: ${p.message}`).join("; ")

/** What did not answer the pre-flight: a source, or the sink. */
export type Unreachable = Source.SourceError | Sink.SinkError

/**
 * Before a run reads anything: every source answers one trivial request (`ping`: SQL `SELECT 1`,
 * one cheap HTTP request) and the sink one cheap authenticated call (`check`: Bitrix24 `profile`),
 * all at once, each within its own budget of seconds. Answers every one that failed, so a user
 * with a wrong database URL and a wrong webhook learns both at once.
 */
export const checkReachable = (
  sources: ReadonlyMap<Source.Source<unknown>, Source.Connection<unknown>>,
  sink: Sink.Connection,
): Effect.Effect<void, ReadonlyArray<Unreachable>> =>
  Effect.all(
    [...[...sources.values()].map((conn) => conn.ping ?? Effect.void), sink.check] as ReadonlyArray<
      Effect.Effect<void, Unreachable>
    >,
    { concurrency: "unbounded", mode: "either" },
  ).pipe(
    Effect.flatMap((answers) => {
      const failures = answers.flatMap((a) => (Either.isLeft(a) ? [a.left] : []))
      return failures.length === 0 ? Effect.void : Effect.fail(failures)
    }),
  )

/** What to do about each failure, for the run's error: what failed, where, and what to check. */
export const describeUnreachable = (sinkName: string, failures: ReadonlyArray<Unreachable>): string =>
  failures
    .map((e) =>
      e._tag === "SourceError"
        ? `source ${e.source}${e.where ? ` (${e.where})` : ""} did not answer: ${e.message}; check that the database or API is up and its URL and credentials are right`
        : e.reason === "fatal"
          ? `${sinkName} refused the pre-flight call${e.code ? ` (${e.code})` : ""}: ${e.message}`
          : `${sinkName} did not answer the pre-flight call${e.code ? ` (${e.code})` : ""}: ${e.message}; check that the portal's address is right and that it can be reached from here`,
    )
    .join("; ")
