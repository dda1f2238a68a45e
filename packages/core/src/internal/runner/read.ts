import { Effect, Option, Stream } from "effect"
import type * as Source from "../../Source.js"
import type { StateStoreError } from "../../StateStore.js"
import { type EntityRun, type RunContext, recordKey } from "./context.js"
import { isFutureCheckpoint } from "./cursorGuard.js"
import { DUPLICATE_KEY } from "./duplicates.js"
import { storableKey } from "./storable.js"

/** An entity's records as this run reads them, and its keys in the dead letters. */
export interface Reading {
  readonly records: Stream.Stream<Source.SourceRecord, Source.SourceError>
  /** The entity's keys in the dead letters when it started: written now, they leave them. */
  readonly deadKeys: ReadonlySet<string>
  /** Keys whose dead letter says the source holds them twice (`DUPLICATE_KEY`). */
  readonly duplicateKeys: ReadonlySet<string>
  /** The read starts at the first record and is not limited: it sees every record of the stream. */
  readonly fromStart: boolean
}

/**
 * Starts reading an entity: from its checkpoint when the run is incremental, from the start
 * when it is `full`, limited or retries only the dead letters. Shows the source's count when it can
 * tell. Reading halts once a stop is requested.
 */
export const read = (
  ctx: RunContext,
  er: Pick<EntityRun, "name" | "entity" | "conn">,
): Effect.Effect<Reading, StateStoreError> =>
  Effect.gen(function* () {
    const { limit, onlyDeadLetters, full } = ctx.reading
    const letters = yield* ctx.store.deadLetters(ctx.pipeline.name, { entity: er.name, limit: 1_000_000_000 })
    const deadKeys = new Set<string>()
    const duplicateKeys = new Set<string>()
    // A retry reads the records whose dead letters count: dismissed ones are known-bad.
    const retried = new Set<string>()
    for (const d of letters) {
      deadKeys.add(d.sourceKey)
      if (d.code === DUPLICATE_KEY) duplicateKeys.add(d.sourceKey)
      if (d.dismissedAt === null) retried.add(d.sourceKey)
      ctx.letters.set(recordKey(er.name, d.sourceKey), {
        code: d.code,
        message: d.message,
        dismissedAt: d.dismissedAt,
      })
    }
    let after =
      onlyDeadLetters || full || limit !== undefined
        ? undefined
        : Option.getOrUndefined(yield* ctx.store.checkpoint(ctx.pipeline.name, er.name))
    if (isFutureCheckpoint(after, ctx.cursorLimit)) {
      // Stuck there, the entity would never read a change again: start over (unchanged records are skipped).
      yield* ctx.progress.note(
        `${er.name}: the checkpoint ${JSON.stringify(after).slice(0, 120)} is in the future (an earlier version let a far-future cursor move it); reading from the start`,
      )
      after = undefined
    }
    const request = { after, limit }
    const total =
      er.conn.count && !onlyDeadLetters
        ? yield* er.conn
            .count(er.entity.from.spec, request)
            .pipe(Effect.option, Effect.map(Option.getOrUndefined))
        : undefined
    yield* ctx.progress.start(er.name, total)
    const records = er.conn.read(er.entity.from.spec, request).pipe(
      Stream.haltWhen(ctx.stopSignal),
      // Dead letters are filed under a key the store can keep, which may differ from the record's.
      onlyDeadLetters ? Stream.filter((r) => retried.has(storableKey(r.key))) : (s) => s,
    )
    return { records, deadKeys, duplicateKeys, fromStart: after === undefined && limit === undefined }
  })
