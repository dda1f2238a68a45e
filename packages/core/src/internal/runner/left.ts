import { Chunk, Clock, Effect, Option, Stream } from "effect"
import type * as Pipeline from "../../Pipeline.js"
import type * as Source from "../../Source.js"
import type { StateStore, StateStoreError } from "../../StateStore.js"
import { classify, linkedFields } from "./classify.js"
import * as CursorGuard from "./cursorGuard.js"
import { prepare } from "./prepare.js"
import { idOf, lookupKnown } from "./resolve.js"

/**
 * What a run of one entity would do, given the state: the records it would read (from the
 * checkpoint, or from the start for `--full`) sorted against the id map as the run sorts them.
 */
export interface Left {
  /** Records the run reads: after the checkpoint, or every one when `fromStart`. */
  readonly read: number
  /** Whether the count starts at the first record (no checkpoint yet, or `--full`). */
  readonly fromStart: boolean
  /** Not in the target yet: created. */
  readonly creates: number
  /** In the target with other content: updated. */
  readonly updates: number
  /** In the target with the same content: nothing to send. */
  readonly unchanged: number
  /** Filtered out by a step, or deleted in the source and never created. */
  readonly skipped: number
  /** In the target and deleted in the source under a `delete` policy: deleted. */
  readonly deletes: number
  /** Records the mapping cannot prepare: they would become dead letters. */
  readonly failed: number
  /**
   * Id-map rows left `pending` by an interrupted run: sent, answer unknown. The next run looks
   * them up in the target first (`crm.item.list`) and sends only the ones it does not find.
   */
  readonly pending: number
  /** Dead letters that count (not dismissed): `run` leaves them, `pipeline retry` tries them again. */
  readonly deadLetters: number
}

/** Records written, deleted or looked up by the run: what costs requests. */
export const toWrite = (left: Left): number => left.creates + left.updates + left.deletes + left.pending

/**
 * Counts what is left to write for an entity, read-only: the state store is only read, and the
 * target not asked. `full`: every record from the start, as `run --full` reads them.
 */
export const leftToWrite = (
  pipeline: Pipeline.Pipeline,
  name: string,
  conn: Source.Connection<unknown>,
  store: StateStore,
  options: { readonly full: boolean },
): Effect.Effect<Left, Source.SourceError | StateStoreError> =>
  Effect.gen(function* () {
    const entity = pipeline.entities[name]!
    const checkpoint = options.full
      ? undefined
      : Option.getOrUndefined(yield* store.checkpoint(pipeline.name, name))
    const limit =
      (yield* Clock.currentTimeMillis) +
      (pipeline.options?.cursorToleranceMs ?? CursorGuard.defaultToleranceMs)
    // As the run does: a checkpoint stuck in the future is read from the start.
    const after = CursorGuard.isFutureCheckpoint(checkpoint, limit) ? undefined : checkpoint
    const preparer = prepare(pipeline.name, name, entity)
    const counts = { read: 0, creates: 0, updates: 0, unchanged: 0, skipped: 0, deletes: 0, failed: 0 }
    yield* conn.read(entity.from.spec, { after }).pipe(
      Stream.grouped(pipeline.options?.bufferSize ?? 500),
      Stream.runForEach((chunk) =>
        Effect.gen(function* () {
          const outcomes = yield* preparer.chunk(Chunk.toReadonlyArray(chunk))
          const keys = outcomes.flatMap((o) => (o._tag === "Prepared" ? [o.key] : []))
          const existing = yield* store.lookup(pipeline.name, name, keys)
          // As the run does: an item whose parent has a new id is updated with it.
          const links = yield* lookupKnown(store, pipeline.name, linkedFields(outcomes, existing))
          const c = classify(outcomes, existing, idOf(links, new Map()))
          counts.read += chunk.length
          counts.creates += c.creates.length
          counts.updates += c.updates.length
          counts.unchanged += c.unchanged.length
          counts.skipped += c.filtered.length + c.deleted.length
          counts.deletes += c.deletes.length
          counts.failed += c.failed.length
        }),
      ),
    )
    const pending = (yield* store.idMapCounts(pipeline.name))
      .filter((r) => r.entity === name && r.status === "pending")
      .reduce((n, r) => n + r.count, 0)
    const letters = yield* store.deadLetters(pipeline.name, { entity: name, limit: 1_000_000_000 })
    return {
      ...counts,
      fromStart: after === undefined,
      pending,
      deadLetters: letters.filter((d) => d.dismissedAt === null).length,
    }
  })
