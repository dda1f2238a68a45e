/** `pipeline retry`: a run of only the records in the dead letters. */

import { Command } from "@effect/cli"
import { entitiesOption, jsonOption, pipelineArg, stateOption } from "../internal/common.js"
import { acceptSourceChangeOption, executeRun } from "./run.js"

export const retry = Command.make(
  "retry",
  {
    pipeline: pipelineArg,
    entity: entitiesOption,
    acceptSourceChange: acceptSourceChangeOption,
    state: stateOption,
    json: jsonOption,
  },
  (args) =>
    executeRun(args, {
      acceptSourceChange: args.acceptSourceChange,
      onlyDeadLetters: true,
      entities: args.entity.length === 0 ? undefined : args.entity,
    }),
).pipe(Command.withDescription("read again and write only the records in the dead letters"))
