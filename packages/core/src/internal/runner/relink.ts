import { Data, Effect, Option, type Scope } from "effect"
import * as Pipeline from "../../Pipeline.js"
import type * as Progress from "../../Progress.js"
import type * as Sink from "../../Sink.js"
import { StateStore, type StateStoreError } from "../../StateStore.js"
import { adopt, listOwned, type Owned } from "./adopt.js"
import { originatorTaken, targetOf } from "./bind.js"
import { credentialsOf } from "./connect.js"
import { takeLock } from "./lock.js"

/**
 * `relink`: rebuilds a pipeline's id map from the target, by the items its originator owns
 * there. For each entity: the items found are written as `created` (each record is sent once as
 * an update on the next run, never created again); id-map rows whose item is not in the target
 * are forgotten, with the entity's checkpoint and dead letters, so the next run reads every
 * record and creates what is missing; records found more than once are listed, never one picked,
 * and kept as dead letters (`DUPLICATE_IN_TARGET`) that every run holds back until they are fixed.
 * Then the pipeline is bound to this target.
 */

/** What relink did for one entity. */
export interface RelinkEntity {
  readonly entity: string
  readonly target: string
  /** Items found in the target and written to the id map. */
  readonly adopted: number
  /** Of those, how many the id map did not have, or had under another id. */
  readonly changed: number
  /** Id-map rows (before the relink) whose record has no item in the target: forgotten. */
  readonly missing: number
  /** Records with more than one item in the target: left out of the id map (held back as dead letters), with every id. */
  readonly duplicates: ReadonlyArray<{ readonly key: string; readonly targetIds: ReadonlyArray<string> }>
}

export interface RelinkResult {
  readonly pipeline: string
  /** The target the pipeline is now bound to. */
  readonly target: string
  /** The target the state belonged to before, when it was another. */
  readonly previousTarget?: string | undefined
  readonly entities: ReadonlyArray<RelinkEntity>
}

/** Why relink could not run: the message says what, and what to do. */
export class RelinkRefusal extends Data.TaggedError("RelinkRefusal")<{
  readonly message: string
  readonly locked?: boolean | undefined
}> {}

const refuse = (message: string, locked?: boolean): RelinkRefusal => new RelinkRefusal({ message, locked })

const LOOKUP_SLICE = 1_000

/** The keys among `keys` the id map has, with their ids (in slices of one query each). */
const known = (store: StateStore, pipeline: string, entity: string, keys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out = new Map<string, string | null>()
    for (let i = 0; i < keys.length; i += LOOKUP_SLICE) {
      const rows = yield* store.lookup(pipeline, entity, keys.slice(i, i + LOOKUP_SLICE))
      for (const [key, row] of rows) out.set(key, row.targetId)
    }
    return out
  })

/** Relinks the pipeline's `entities` (default: all) with the lock held. */
export const relinkPipeline = (
  pipeline: Pipeline.Pipeline,
  options: {
    readonly entities?: ReadonlyArray<string> | undefined
    readonly lockLeaseMs?: number | undefined
  },
): Effect.Effect<
  RelinkResult,
  Pipeline.DefinitionError | RelinkRefusal | Sink.SinkError | StateStoreError,
  StateStore | Progress.Progress | Scope.Scope
> =>
  Effect.gen(function* () {
    const store = yield* StateStore
    const order = yield* Pipeline.validate(pipeline)
    for (const name of options.entities ?? []) {
      if (!order.includes(name))
        return yield* Effect.fail(refuse(`unknown entity "${name}" (entities: ${order.join(", ")})`))
    }
    const selected = options.entities ? order.filter((n) => options.entities!.includes(n)) : order
    const leaseMs = options.lockLeaseMs ?? 60_000
    yield* takeLock(pipeline.name, { leaseMs, tick: undefined }).pipe(
      Effect.catchTags({
        LockError: (e) =>
          Effect.fail(
            refuse(
              `another process is running pipeline "${pipeline.name}" (${e.message}); wait for it to finish, then relink`,
              true,
            ),
          ),
        AlreadyRan: (e) => Effect.fail(refuse(e.message)),
      }),
    )
    const originator = Pipeline.originator(pipeline)
    const sink = yield* pipeline.sink.connect({
      originator,
      dryRun: false,
      credentials: credentialsOf(store),
      rateBuckets: store.rateBuckets,
    })
    if (sink.listOwned === undefined) {
      return yield* Effect.fail(
        refuse(
          `the ${pipeline.sink.kind} sink cannot list the items it owns, so the id map cannot be rebuilt from it`,
        ),
      )
    }
    const target = targetOf(pipeline.sink, sink)
    const taken = originatorTaken(pipeline.name, { target, originator }, yield* store.bindings)
    if (taken !== undefined) return yield* Effect.fail(refuse(taken.message))
    const bound = Option.getOrUndefined(yield* store.binding(pipeline.name))

    // Entities writing to the same target share one listing.
    const byTarget = new Map<string, { target: Sink.Target; entities: Array<string> }>()
    for (const name of selected) {
      const to = pipeline.entities[name]!.to
      const group = byTarget.get(to.name) ?? { target: to, entities: [] }
      group.entities.push(name)
      byTarget.set(to.name, group)
    }
    const counts = yield* store.idMapCounts(pipeline.name)
    const entities: Array<RelinkEntity> = []
    // Everything is listed before anything is changed: a target that cannot be listed changes nothing.
    const listed: Array<{
      group: { target: Sink.Target; entities: Array<string> }
      owned: ReadonlyMap<string, Owned>
    }> = []
    for (const group of byTarget.values())
      listed.push({ group, owned: yield* listOwned(sink, group.target, group.entities) })
    for (const { group, owned } of listed) {
      for (const name of group.entities) {
        const found = owned.get(name)!
        const before = yield* known(store, pipeline.name, name, [
          ...found.items.keys(),
          ...found.duplicates.keys(),
        ])
        const rows = counts.filter((c) => c.entity === name).reduce((n, c) => n + c.count, 0)
        const changed = [...found.items].filter(([key, id]) => before.get(key) !== id).length
        yield* store.reset(pipeline.name, name)
        yield* adopt(store, pipeline.name, name, group.target.name, found)
        entities.push({
          entity: name,
          target: group.target.name,
          adopted: found.items.size,
          changed,
          missing: Math.max(0, rows - before.size),
          duplicates: [...found.duplicates].map(([key, targetIds]) => ({ key, targetIds })),
        })
      }
    }
    yield* store.bind({ pipeline: pipeline.name, target, originator, source: bound?.source ?? null })
    return {
      pipeline: pipeline.name,
      target,
      previousTarget: bound !== undefined && bound.target !== target ? bound.target : undefined,
      entities: order.flatMap((n) => entities.filter((e) => e.entity === n)),
    }
  })
