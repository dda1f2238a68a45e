/**
 * What the commands share: how a handler ends (exit code, expected errors as one line), the
 * arguments and options several commands take, and the state store and pipeline name they work on.
 */

import type { StateStore } from "@b24etl/core/StateStore"
import { Args, Options } from "@effect/cli"
import type { FileSystem, Path } from "@effect/platform"
import { Console, Data, Effect, Option } from "effect"
import * as PipelineLoader from "../PipelineLoader.js"
import type * as ProgressDisplay from "../ProgressDisplay.js"
import * as State from "../State.js"
import { shellWord } from "./format.js"
import { type ExitCode, setExitCode } from "./program.js"
import { didYouMean } from "./suggest.js"

export { ExitCode, invocation, setExitCode } from "./program.js"

/** A refusal or mistake of the user's, with what to do about it. */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string }> {}

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

export type Env = FileSystem.FileSystem | Path.Path | ProgressDisplay.Output | ExitCode

/**
 * Runs a handler: its expected errors become one line on stderr and exit code 1 (and, for a
 * `--json` command, one JSON object on stdout).
 */
export const handled = <E>(
  effect: Effect.Effect<void, E, Env>,
  options: { readonly json?: boolean } = {},
): Effect.Effect<void, never, Env> =>
  effect.pipe(Effect.catchAll((e) => reportFailure(e, options.json === true)))

/** How hints name a pipeline: the path when the user gave a path, else its name; quoted for the shell. */
export const hintName = (reference: string): string => shellWord(reference)

/** Refuses entities the pipeline does not have, naming the ones it has and the likely one meant. */
export const checkEntities = (
  pipeline: string,
  known: ReadonlyArray<string>,
  asked: ReadonlyArray<string>,
): Effect.Effect<void, CliError> => {
  const unknown = asked.find((e) => !known.includes(e))
  return unknown === undefined
    ? Effect.void
    : Effect.fail(
        new CliError({
          message: `pipeline "${pipeline}" has no entity "${unknown}" (entities: ${known.join(", ")})${didYouMean(unknown, known)}`,
        }),
      )
}

// Arguments and options shared by several commands.
export const pipelineArg = Args.text({ name: "pipeline" }).pipe(
  Args.withDescription("a pipeline's name (from pipelines/*.ts or PIPELINE_DIR) or the path of its file"),
)
export const stateOption = Options.text("state").pipe(
  Options.withDescription(
    "where the state is: postgres://…, mysql://… or a directory (default: PIPELINE_STATE_URL, else .pipeline/state)",
  ),
  Options.optional,
)
export const jsonOption = Options.boolean("json").pipe(
  Options.withDescription("print JSON instead of tables"),
)
export const entitiesOption = Options.text("entity").pipe(
  Options.withDescription("only this entity (repeat for several)"),
  Options.repeated,
)

/** The state store of a command as a layer. */
export const withState = <A, E, R>(
  state: Option.Option<string>,
  effect: Effect.Effect<A, E, R | StateStore>,
) => Effect.provide(effect, State.layer(state))

/**
 * The pipeline's name for commands that only read or clear the state: loaded when it can be, so
 * a path works and a typo is caught, but a file that no longer loads does not lock its state away.
 */
export const pipelineName = (nameOrPath: string) =>
  PipelineLoader.load(nameOrPath).pipe(
    Effect.map((loaded) => ({
      name: loaded.pipeline.name,
      reference: loaded.reference,
      loaded: Option.some(loaded),
    })),
    Effect.catchIf(
      (e) => !PipelineLoader.isPath(nameOrPath) && e._tag !== "PipelineNotFound",
      (e) =>
        Console.error(`warning: ${describeError(e)}; using the state of "${nameOrPath}" anyway`).pipe(
          Effect.as({
            name: nameOrPath,
            reference: nameOrPath,
            loaded: Option.none<PipelineLoader.Loaded>(),
          }),
        ),
    ),
  )
