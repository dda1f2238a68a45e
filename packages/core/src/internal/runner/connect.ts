import { Effect, type Scope } from "effect"
import type * as Pipeline from "../../Pipeline.js"
import type * as Sink from "../../Sink.js"
import type * as Source from "../../Source.js"
import type { StateStore } from "../../StateStore.js"

/** Connects every distinct source of these entities once; entities reading one source share it. */
export const connectSources = (
  pipeline: Pipeline.Pipeline,
  entities: ReadonlyArray<string>,
): Effect.Effect<
  ReadonlyMap<Source.Source<unknown>, Source.Connection<unknown>>,
  Source.SourceError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const connections = new Map<Source.Source<unknown>, Source.Connection<unknown>>()
    for (const name of entities) {
      const source = pipeline.entities[name]!.from.source
      if (!connections.has(source)) connections.set(source, yield* source.connect)
    }
    return connections
  })

/** The state store as the place sinks keep rotating credentials. */
export const credentialsOf = (store: StateStore): Sink.Credentials => ({
  load: store.loadCredential,
  save: store.saveCredential,
})
