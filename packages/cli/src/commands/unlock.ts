/** `pipeline unlock`: frees a pipeline's lock whose holder the user knows is dead. */

import { createInterface } from "node:readline/promises"
import * as Lock from "@b24etl/core/Lock"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import {
  CliError,
  handled,
  pipelineArg,
  pipelineName,
  setExitCode,
  stateOption,
  withState,
} from "../internal/common.js"

/** Asks on the terminal; answers no when stdin is not one (a script must say `--yes`). */
const confirm = (question: string): Effect.Effect<boolean> =>
  process.stdin.isTTY !== true
    ? Effect.succeed(false)
    : Effect.promise(async () => {
        const prompt = createInterface({ input: process.stdin, output: process.stderr })
        try {
          return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim())
        } finally {
          prompt.close()
        }
      })

export const unlock = Command.make(
  "unlock",
  {
    pipeline: pipelineArg,
    yes: Options.boolean("yes").pipe(Options.withDescription("do not ask: free the lock")),
    state: stateOption,
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const { name } = yield* pipelineName(args.pipeline)
        const lock = `pipeline:${name}`
        yield* withState(
          args.state,
          Effect.gen(function* () {
            const holder = yield* Lock.holder(lock)
            if (Option.isNone(holder)) {
              yield* Console.log(`Pipeline "${name}" is not locked: nothing to do.`)
              return
            }
            const { owner, acquiredAt, expiresAt } = holder.value
            const who = `${Lock.describeHolder(owner)} (since ${acquiredAt.toISOString()}, until ${expiresAt.toISOString()} unless it renews it)`
            // A dead holder of this host would lose the lock to the next run anyway; say so.
            const dead = Lock.holderIsDead(owner)
            yield* Console.error(
              `Pipeline "${name}" is locked by ${who}${dead ? "; that process no longer exists" : ""}.`,
            )
            if (!args.yes) {
              const asked = yield* confirm(
                "Free it? Only if that run is dead: two runs at once can write records twice.",
              )
              if (!asked)
                return yield* new CliError({
                  message: `not unlocked: run \`pipeline unlock ${name} --yes\` to free the lock without asking, once you know ${Lock.describeHolder(owner)} is dead`,
                })
            }
            const freed = yield* Lock.forceRelease(lock)
            yield* Console.log(
              Option.isSome(freed)
                ? `Unlocked pipeline "${name}": the next run takes the lock at once and closes the dead run as crashed.`
                : `Pipeline "${name}" was unlocked meanwhile: nothing to do.`,
            )
          }),
        )
        yield* setExitCode(0)
      }),
    ),
).pipe(Command.withDescription("free a pipeline's lock held by a run you know is dead (asks first; --yes)"))
