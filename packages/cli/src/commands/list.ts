/** `pipeline list`: the pipelines found, with their entities, schedule and description. */

import { Command } from "@effect/cli"
import { jsonOption } from "../internal/common.js"
import { listPipelines } from "../internal/listing.js"

export const list = Command.make("list", { json: jsonOption }, listPipelines).pipe(
  Command.withDescription("list the pipelines found, with their entities, schedule and description"),
)
