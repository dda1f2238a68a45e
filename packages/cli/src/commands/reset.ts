/** `pipeline reset`: forgets what a pipeline (or some of its entities) wrote. */

import { StateStore } from "@b24etl/core/StateStore"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import {
  CliError,
  checkEntities,
  entitiesOption,
  handled,
  pipelineArg,
  pipelineName,
  setExitCode,
  stateOption,
  withState,
} from "../internal/common.js"

export const reset = Command.make(
  "reset",
  {
    pipeline: pipelineArg,
    entity: entitiesOption,
    yes: Options.boolean("yes").pipe(Options.withDescription("confirm: without it nothing is reset")),
    state: stateOption,
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const { name, loaded } = yield* pipelineName(args.pipeline)
        if (Option.isSome(loaded)) yield* checkEntities(name, loaded.value.order, args.entity)
        const what =
          args.entity.length === 0
            ? `pipeline "${name}"`
            : `entities ${args.entity.join(", ")} of pipeline "${name}"`
        if (!args.yes) {
          return yield* new CliError({
            message: `refusing to reset ${what} without --yes: reset forgets the id map, checkpoints and dead letters, so the next run creates every record again in the target. Add --yes to confirm.`,
          })
        }
        yield* withState(
          args.state,
          Effect.gen(function* () {
            const store = yield* StateStore
            // The run's lock: resetting under a running pipeline would make it create records twice.
            const lock = `pipeline:${name}`
            const owner = `reset-${Math.random().toString(36).slice(2, 10)}`
            const acquired = yield* store.acquireLock(lock, owner, 60_000)
            if (!acquired) {
              return yield* new CliError({
                message: `pipeline "${name}" is running (lock ${lock} is held); wait for the run to end, then reset`,
              })
            }
            yield* Effect.ensuring(
              args.entity.length === 0
                ? store.reset(name)
                : Effect.forEach(args.entity, (entity) => store.reset(name, entity), { discard: true }),
              store.releaseLock(lock, owner).pipe(Effect.ignore),
            )
            yield* Console.log(
              `Reset ${what}: id map, checkpoints and dead letters cleared (${store.location}).`,
            )
          }),
        )
        yield* setExitCode(0)
      }),
    ),
).pipe(
  Command.withDescription(
    "forget what a pipeline (or some entities) wrote: id map, checkpoints, dead letters",
  ),
)
