/**
 * What a command that connects loads after the pipeline file, loaded before it. Once tsx's loader
 * is registered (on the first `.ts` pipeline file), every module imported afterwards goes through
 * its hooks: importing kysely, @effect/platform-node's HTTP client, pg and the runner took 1.3 s of
 * CPU with tsx registered first against 0.5 s without. Only commands that connect call this, so
 * `list` and `--help` load none of it; the drivers of both SQL engines load, whichever is used.
 */
import * as Effect from "effect/Effect"

/** The connectors and the sink's client; with `state`, the state store's module too. */
export const connecting = (options: { readonly state: boolean }): Effect.Effect<void> =>
  Effect.promise(() =>
    Promise.all([
      import("@b24etl/connectors/Postgres"),
      import("@b24etl/connectors/Mysql"),
      import("@b24etl/sinks/Bitrix24Client"),
      import("@b24etl/sinks/Bitrix24Connection"),
      import("@b24etl/sinks/OAuthTokens"),
      ...(options.state ? [import("@b24etl/core/StateStoreSql")] : []),
    ]),
  )
