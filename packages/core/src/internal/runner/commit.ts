import { Effect } from "effect"
import type { Json } from "../../Json.js"
import type { BatchCommit, DeadLetterInput, StateStoreError } from "../../StateStore.js"
import { type EntityRun, type RunContext, recordKey } from "./context.js"
import type { Prepared } from "./prepare.js"
import { storableLetter } from "./storable.js"

/** An id-map row of a record the target confirmed. */
export type Written = BatchCommit["created"][number]

/**
 * Notes this run's dead letters: each counts (makes the run `partial`) unless the record's
 * dead letter was dismissed and fails again the same way (same code), which keeps it dismissed.
 */
const noteFailures = (ctx: RunContext, letters: ReadonlyArray<DeadLetterInput>) => {
  for (const d of letters) {
    const key = recordKey(d.entity, d.sourceKey)
    const before = ctx.letters.get(key)
    const staysDismissed = before !== undefined && before.dismissedAt !== null && before.code === d.code
    ctx.failed.set(key, !staysDismissed || ctx.failed.get(key) === true)
  }
}

/**
 * Commits a batch's id-map rows, released pending rows and dead letters in one transaction.
 * Dead letters are made storable first (a key too long or text the store cannot keep never
 * fails the commit). A dry run commits nothing.
 */
export const commit = (
  ctx: RunContext,
  entity: string,
  batch: Omit<BatchCommit, "pipeline" | "entity">,
): Effect.Effect<void, StateStoreError> =>
  Effect.suspend(() => {
    const letters = batch.deadLetters?.map(storableLetter)
    if (letters !== undefined) noteFailures(ctx, letters)
    return ctx.dryRun
      ? Effect.void
      : ctx.store.commit({
          pipeline: ctx.pipeline.name,
          entity,
          ...batch,
          ...(letters === undefined ? {} : { deadLetters: letters }),
        })
  })

/**
 * The keys among these that were in the dead letters: written now, they leave them. A key the
 * source holds twice keeps its `DUPLICATE_KEY` dead letter though one copy is written.
 */
const recovered = (er: EntityRun, keys: ReadonlyArray<string>): ReadonlyArray<string> =>
  keys.filter((k) => er.deadKeys.has(k) && !er.duplicates.has(k))

/** Commits a sent batch: the ids of the records written, the dead letters of the ones refused. */
export const commitBatch = (
  ctx: RunContext,
  er: EntityRun,
  batch: {
    readonly written: ReadonlyArray<Written>
    readonly deadLetters: ReadonlyArray<DeadLetterInput>
    /** Pending rows to drop: the creates the target refused. */
    readonly released?: ReadonlyArray<string>
  },
): Effect.Effect<void, StateStoreError> =>
  commit(ctx, er.name, {
    created: batch.written,
    ...(batch.released === undefined ? {} : { released: batch.released }),
    deadLetters: batch.deadLetters,
    recovered: recovered(
      er,
      batch.written.map((w) => w.sourceKey),
    ),
  })

/**
 * Commits what a chunk does not send: the dead letters of records that failed before the
 * target (decode, steps, map, references), and the unchanged records leaving the dead letters.
 */
export const commitUnsent = (
  ctx: RunContext,
  er: EntityRun,
  deadLetters: ReadonlyArray<DeadLetterInput>,
  unchanged: ReadonlyArray<Prepared>,
): Effect.Effect<void, StateStoreError> =>
  deadLetters.length === 0 && unchanged.length === 0
    ? Effect.void
    : commit(ctx, er.name, {
        created: [],
        deadLetters,
        recovered: recovered(
          er,
          unchanged.map((u) => u.key),
        ),
      })

/**
 * Advances the entity's checkpoint to a chunk's last position before any record whose cursor is
 * in the future (`cursorGuard.ts` picks it; none in a retry, which reads only some records).
 * Called in read order once the chunk is committed, so a checkpoint never passes a record that
 * is not.
 */
export const advanceCheckpoint = (
  ctx: RunContext,
  entity: string,
  position: Json | undefined,
): Effect.Effect<void, StateStoreError> =>
  position === undefined ? Effect.void : commit(ctx, entity, { created: [], checkpoint: position })
