/**
 * How a command's handler ends: its expected errors as one line on stderr (and one JSON object on
 * stdout for a `--json` command) and exit code 1. Apart from `common.ts`, which holds @effect/cli's
 * options, so a command run without @effect/cli (`list`, see `Cli.ts`) loads only this.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { type ExitCode, setExitCode } from "./program.js"

const tagOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined

const messageOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e && typeof e.message === "string"
    ? e.message
    : String(e)

/** One line for an expected error: what failed, where, and (in the message) what to do. */
export const describeError = (e: unknown): string => {
  switch (tagOf(e)) {
    case "DefinitionError":
    case "RunError": {
      const err = e as { pipeline: string; entity?: string | undefined; message: string }
      if (err.message.startsWith(err.pipeline)) return err.message
      return `pipeline "${err.pipeline}"${err.entity ? `, entity "${err.entity}"` : ""}: ${err.message}`
    }
    case "StateStoreError": {
      const err = e as { operation: string; message: string }
      return `state store failed while ${err.operation}: ${err.message} (check --state or PIPELINE_STATE_URL)`
    }
    case "ConfigError":
      return `configuration: ${String(e)}`
    default:
      return messageOf(e)
  }
}

/**
 * An expected error as the one JSON object a `--json` command prints on stdout when it fails:
 * `{"error":{"kind":"PipelineNotFound","message":"…"}}`, with the pipeline and entity when known.
 */
export const errorJson = (e: unknown): string => {
  const field = (key: string) => {
    const v = typeof e === "object" && e !== null ? (e as Record<string, unknown>)[key] : undefined
    return typeof v === "string" ? { [key]: v } : {}
  }
  return JSON.stringify({
    error: { kind: tagOf(e) ?? "Error", message: describeError(e), ...field("pipeline"), ...field("entity") },
  })
}

/**
 * Prints an expected error as one line on stderr and sets exit code 1; with `json`, stdout gets
 * the error as one JSON object too, so a script reading stdout always gets JSON.
 */
export const reportFailure = (e: unknown, json = false) =>
  Console.error(`error: ${describeError(e)}`).pipe(
    Effect.zipRight(json ? Console.log(errorJson(e)) : Effect.void),
    Effect.zipRight(setExitCode(1)),
  )

/**
 * Runs a handler: its expected errors become one line on stderr and exit code 1 (and, for a
 * `--json` command, one JSON object on stdout).
 */
export const handled = <E, R>(
  effect: Effect.Effect<void, E, R>,
  options: { readonly json?: boolean } = {},
): Effect.Effect<void, never, R | ExitCode> =>
  effect.pipe(Effect.catchAll((e) => reportFailure(e, options.json === true)))
