import { Effect, Option, type Scope, Stream } from "effect"
import * as Pipeline from "../../Pipeline.js"
import type { PlanEntityResult, PlanResult } from "../../Runner.js"
import type * as Sink from "../../Sink.js"
import type * as Source from "../../Source.js"
import { StateStore, StateStoreError } from "../../StateStore.js"
import { bindRun } from "./bind.js"
import { connectSources, credentialsOf } from "./connect.js"
import { leftToWrite } from "./left.js"
import { checkReachable } from "./preflight.js"
import { prepare } from "./prepare.js"

/** The fields an entity's mapping produces on a sample of its records. */
const sampleFields = (
  pipelineName: string,
  name: string,
  entity: Pipeline.AnyEntity,
  conn: Source.Connection<unknown>,
  sample: number,
): Effect.Effect<ReadonlyArray<string>, Source.SourceError> =>
  Effect.gen(function* () {
    const fields = new Set<string>()
    const preparer = prepare(pipelineName, name, entity)
    yield* conn.read(entity.from.spec, { limit: sample }).pipe(
      Stream.runForEach((record) =>
        preparer.one(record).pipe(
          Effect.map((o) => {
            if (o._tag === "Prepared")
              for (const f of [...Object.keys(o.fields), ...Object.keys(o.deferred)]) fields.add(f)
          }),
        ),
      ),
    )
    return [...fields].sort()
  })

/**
 * Checks a pipeline without writing: definition, entity order, source counts, and the sink's
 * check of the fields the mappings produce on a sample of records. With the state store at hand,
 * it counts what a run would write given the state (`left.ts`: new, changed, unchanged, pending,
 * dead letters), and the sink estimates only that; without it, every counted record.
 */
export const planPipeline = (
  pipeline: Pipeline.Pipeline,
  options: {
    readonly sample?: number | undefined
    readonly credentials?: Sink.Credentials | undefined
    /** Also read every record and count what a `--full` run would write (needs the state store). */
    readonly full?: boolean | undefined
  },
): Effect.Effect<
  PlanResult,
  Pipeline.DefinitionError | Source.SourceError | Sink.SinkError | StateStoreError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const order = yield* Pipeline.validate(pipeline)
    const sources = yield* connectSources(pipeline, order)
    // A plan may refresh an OAuth token too: with a state store at hand, the rotated one is kept.
    const store = yield* Effect.serviceOption(StateStore)
    if (options.full === true && Option.isNone(store)) {
      return yield* Effect.fail(
        new StateStoreError({
          operation: "planning a full run",
          message:
            "counting what changed since it was written compares with the id map: give the plan the state store",
        }),
      )
    }
    const sink = yield* pipeline.sink.connect({
      originator: Pipeline.originator(pipeline),
      dryRun: true,
      credentials: options.credentials ?? Option.getOrUndefined(Option.map(store, credentialsOf)),
    })
    // The same pre-flight as a run's: an unreachable source or portal fails the plan in seconds.
    yield* checkReachable(sources, sink).pipe(Effect.mapError((failures) => failures[0]!))
    const entities: Array<PlanEntityResult> = []
    for (const name of order) {
      const entity = pipeline.entities[name]!
      const conn = sources.get(entity.from.source)!
      const count = conn.count ? yield* conn.count(entity.from.spec, {}) : undefined
      const left = Option.isSome(store)
        ? yield* leftToWrite(pipeline, name, conn, store.value, { full: options.full === true })
        : undefined
      entities.push({
        entity: name,
        target: entity.to.name,
        source: entity.from.source.describe(entity.from.spec),
        count,
        fields: yield* sampleFields(pipeline.name, name, entity, conn, options.sample ?? 20),
        incremental: false,
        left,
        ...(options.full === true && left !== undefined
          ? { changed: { updates: left.updates, creates: left.creates } }
          : {}),
      })
    }
    const report = yield* sink.plan(
      entities.map((e) => ({
        entity: e.entity,
        target: pipeline.entities[e.entity]!.to,
        fields: e.fields,
        // Given the state, only what is left: pending rows may be sent again after their lookup.
        count: e.left === undefined ? e.count : e.left.creates + e.left.pending,
        updates: e.left === undefined ? undefined : e.left.updates + e.left.deletes,
        inOrder: pipeline.entities[e.entity]!.inOrder === true,
      })),
    )
    // With the state store at hand, what a run would refuse (another portal, a moved source) is told here.
    const refusals = Option.isSome(store)
      ? yield* bindRun(
          store.value,
          pipeline,
          { sink, sources },
          { dryRun: true, acceptSourceChange: false },
        ).pipe(
          Effect.catchAll((e) =>
            Effect.succeed([{ message: `the state's binding could not be read: ${e.message}` }]),
          ),
        )
      : []
    const notes = [...report.notes, ...refusals.map((r) => `a run would stop: ${r.message}`)]
    return { pipeline: pipeline.name, order, entities, sink: { ...report, notes } }
  })
