import * as Source from "@b24etl/core/Source"
import { Config, Effect, Redacted } from "effect"

/** A secret given directly, redacted, or as configuration read when the source connects. */
export type SecretInput =
  | string
  | Redacted.Redacted<string>
  | Config.Config<string | Redacted.Redacted<string>>

/** Reads a secret; a missing setting fails as a `SourceError` naming the setting, never its value. */
export const resolve = (
  source: string,
  what: string,
  input: SecretInput,
): Effect.Effect<string, Source.SourceError> =>
  Config.isConfig(input)
    ? (input as Config.Config<string | Redacted.Redacted<string>>).pipe(
        Effect.map((value) => (Redacted.isRedacted(value) ? Redacted.value(value) : value)),
        Effect.mapError(
          (cause) =>
            new Source.SourceError({
              source,
              message: `${source}: ${what} is not configured: ${String(cause)}`,
              cause,
            }),
        ),
      )
    : Effect.succeed(
        Redacted.isRedacted(input) ? Redacted.value(input as Redacted.Redacted<string>) : (input as string),
      )
