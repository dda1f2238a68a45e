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
import { describeError } from "./handled.js"
import type { ExitCode } from "./program.js"
import { didYouMean } from "./suggest.js"

export { describeError, errorJson, handled, reportFailure } from "./handled.js"
export { ExitCode, invocation, setExitCode } from "./program.js"

/** A refusal or mistake of the user's, with what to do about it. */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string }> {}

export type Env = FileSystem.FileSystem | Path.Path | ProgressDisplay.Output | ExitCode

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
