/** The state store the command line works on: from `--state`, `PIPELINE_STATE_URL`, or `.pipeline/state`. */
import type * as Sink from "@b24etl/core/Sink"
import { StateStore, StateStoreError } from "@b24etl/core/StateStore"
import { type ConfigError, Context, Effect, Layer, type Option, Redacted, type Scope } from "effect"
import * as CliConfig from "./Config.js"

/**
 * The state store layer; `flag` is the `--state` option, which wins over the environment.
 * The SQL store and its drivers (SQLite or PGlite, pg, mysql2) load only when a command needs the state,
 * so `list`, `plan` and `--help` start faster.
 */
export const layer = (
  flag: Option.Option<string>,
): Layer.Layer<StateStore, StateStoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const url = yield* CliConfig.resolveStateUrl(flag)
      const [StateStoreSql, drivers] = yield* Effect.promise(() =>
        Promise.all([
          import("@b24etl/core/StateStoreSql"),
          import("./internal/drivers.js").then((d) => d.driversFor(Redacted.value(url))),
        ]),
      )
      const location = StateStoreSql.redactUrl(Redacted.value(url))
      // Name the store (password hidden) in errors raised while opening it.
      return StateStoreSql.layerFromUrl(url, drivers).pipe(
        Layer.mapError((e) =>
          e.message.includes(location)
            ? e
            : new StateStoreError({ ...e, message: `${location}: ${e.message}` }),
        ),
      )
    }),
  )

/**
 * The state store as the place sinks keep rotating credentials, opened only when a sink asks
 * (an OAuth sink reads the pair the last refresh stored, and stores the next one); a webhook plan
 * never opens the store.
 */
export const lazyCredentials = (
  flag: Option.Option<string>,
): Effect.Effect<Sink.Credentials, never, Scope.Scope> =>
  Effect.gen(function* () {
    // Built in the caller's scope, so the store closes when the command ends.
    const scope = yield* Effect.scope
    const open = yield* Effect.cached(
      Effect.map(Layer.buildWithScope(layer(flag), scope), Context.get(StateStore)),
    )
    const store = open.pipe(
      Effect.mapError((e) =>
        e._tag === "StateStoreError"
          ? e
          : new StateStoreError({ operation: "opening the state store", message: String(e) }),
      ),
    )
    return {
      load: (name) => Effect.flatMap(store, (s) => s.loadCredential(name)),
      save: (name, value) => Effect.flatMap(store, (s) => s.saveCredential(name, value)),
    } satisfies Sink.Credentials
  })
