/**
 * The command line's configuration, read through Effect `Config` from the environment (and the
 * `.env` file of the working directory, which `bin.ts` loads without overriding the environment).
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** The embedded state store used when nothing else is configured: SQLite (or the PGlite it already holds) in this directory. */
export const defaultStateUrl = ".pipeline/state"

/**
 * `PIPELINE_STATE_URL`: where the state is kept. `postgres://…` or `mysql://…` (the URL may hold a
 * password, so it is `Redacted`), or a directory for the embedded store (`sqlite:<dir>` / `pglite:<dir>`
 * to choose its database). Default `.pipeline/state`.
 */
export const stateUrl: Config.Config<Redacted.Redacted<string>> = Config.redacted("PIPELINE_STATE_URL").pipe(
  Config.withDefault(Redacted.make(defaultStateUrl)),
)

/** `PIPELINE_DIR`: a directory of pipeline files searched before `pipelines/` of the working directory. */
export const pipelineDir: Config.Config<Option.Option<string>> = Config.option(
  Config.nonEmptyString("PIPELINE_DIR"),
)

/** The state URL to use: `--state` when given, else `PIPELINE_STATE_URL`, else the default directory. */
export const resolveStateUrl = (flag: Option.Option<string>): Config.Config<Redacted.Redacted<string>> =>
  Option.match(flag, { onNone: () => stateUrl, onSome: (url) => Config.succeed(Redacted.make(url)) })
