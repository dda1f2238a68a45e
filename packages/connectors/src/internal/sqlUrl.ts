/**
 * A SQL source's URL as a pipeline declares it, read when the source connects. Apart from the
 * drivers (`sqlDriver.ts`), so a pipeline file that declares a source loads neither kysely nor
 * pg/mysql2 until a run connects.
 */
import * as Source from "@b24etl/core/Source"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

/** A URL given directly, as a secret, or as configuration to read when the run starts. */
export type UrlInput = string | Redacted.Redacted<string> | Config.Config<string | Redacted.Redacted<string>>

/** Reads the URL when the source connects; a missing setting fails as a `SourceError`. */
export const resolveUrl = (
  name: string,
  url: UrlInput,
): Effect.Effect<string | Redacted.Redacted<string>, Source.SourceError> =>
  Config.isConfig(url)
    ? (url as Config.Config<string | Redacted.Redacted<string>>).pipe(
        Effect.mapError(
          (cause) =>
            new Source.SourceError({
              source: name,
              message: `${name}: the connection URL is not configured: ${String(cause)}`,
              cause,
            }),
        ),
      )
    : Effect.succeed(url as string | Redacted.Redacted<string>)

export const urlText = (url: string | Redacted.Redacted<string>): string =>
  Redacted.isRedacted(url) ? Redacted.value(url) : url
