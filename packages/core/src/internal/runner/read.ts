import { Effect, Option, Stream } from "effect"
import type * as Source from "../../Source.js"
import type { StateStoreError } from "../../StateStore.js"
import type { EntityRun, RunContext } from "./context.js"

/** An entity's records as this run reads them, and its keys in the dead letters. */
export interface Reading {
  readonly records: Stream.Stream<Source.SourceRecord, Source.SourceError>
  /** The entity's keys in the dead letters when it started: written now, they leave them. */
  readonly deadKeys: ReadonlySet<string>
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
    const deadKeys = new Set(
      (yield* ctx.store.deadLetters(ctx.pipeline.name, { entity: er.name, limit: 1_000_000_000 })).map(
        (d) => d.sourceKey,
      ),
    )
    const after =
      onlyDeadLetters || full || limit !== undefined
        ? undefined
        : Option.getOrUndefined(yield* ctx.store.checkpoint(ctx.pipeline.name, er.name))
    const request = { after, limit }
    const total =
      er.conn.count && !onlyDeadLetters
        ? yield* er.conn
            .count(er.entity.from.spec, request)
            .pipe(Effect.option, Effect.map(Option.getOrUndefined))
        : undefined
    yield* ctx.progress.start(er.name, total)
    const records = er.conn
      .read(er.entity.from.spec, request)
      .pipe(
        Stream.haltWhen(ctx.stopSignal),
        onlyDeadLetters ? Stream.filter((r) => deadKeys.has(r.key)) : (s) => s,
      )
    return { records, deadKeys }
  })
