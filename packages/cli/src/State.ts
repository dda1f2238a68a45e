/** The state store the command line works on: from `--state`, `PIPELINE_STATE_URL`, or `.pipeline/state`. */
import { type StateStore, StateStoreError } from "@b24etl/core/StateStore"
import { type ConfigError, Effect, Layer, type Option, Redacted } from "effect"
import * as CliConfig from "./Config.js"

/**
 * The state store layer; `flag` is the `--state` option, which wins over the environment.
 * The SQL store and its drivers (PGlite, pg, mysql2) load only when a command needs the state,
 * so `list`, `plan` and `--help` start faster.
 */
export const layer = (
  flag: Option.Option<string>,
): Layer.Layer<StateStore, StateStoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const url = yield* CliConfig.resolveStateUrl(flag)
      const [StateStoreSql, { drivers }] = yield* Effect.promise(() =>
        Promise.all([import("@b24etl/core/StateStoreSql"), import("./internal/drivers.js")]),
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
