/**
 * Programmatic use: compose a pipeline in TypeScript and run it from your own program, with the
 * state store and progress reporting you choose. Run it directly:
 *
 *   WEBSHOP_API_URL=… WEBSHOP_API_TOKEN=… BITRIX24_WEBHOOK_URL=… pnpm tsx pipelines/examples/programmatic.ts
 */
import { pathToFileURL } from "node:url"
import * as Progress from "@b24etl/core/Progress"
import type { RunReport } from "@b24etl/core/Report"
import * as Report from "@b24etl/core/Report"
import * as Runner from "@b24etl/core/Runner"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer, Redacted } from "effect"
import { webshopLeads } from "./webshop-leads.js"

export interface SyncOptions {
  readonly apiUrl: string
  readonly apiToken: string
  readonly webhookUrl: string
  /** Where the embedded state store lives. */
  readonly stateDirectory: string
}

/** One sync of the web shop into Bitrix24, as a Promise: for scripts, jobs and other frameworks. */
export const syncWebshop = (options: SyncOptions): Promise<RunReport> => {
  const pipeline = webshopLeads({
    apiUrl: options.apiUrl,
    token: Redacted.make(options.apiToken),
    sink: Bitrix24.sink(Bitrix24.webhook(options.webhookUrl), { rate: "standard" }),
  })
  return Effect.runPromise(
    Runner.run(pipeline).pipe(
      Effect.provide(Layer.merge(StateStoreSql.layerPglite(options.stateDirectory), Progress.silent)),
    ),
  )
}

/** The same as an Effect program, its settings from the environment, run by NodeRuntime. */
export const main = Effect.gen(function* () {
  const pipeline = webshopLeads({
    apiUrl: Config.string("WEBSHOP_API_URL"),
    token: Config.redacted("WEBSHOP_API_TOKEN"),
    sink: Bitrix24.fromEnv(),
  })
  const report = yield* Runner.run(pipeline)
  yield* Console.log(
    `${report.pipeline}: ${report.status}; ${report.entities.map((e) => `${e.entity} created ${e.created}, updated ${e.updated}, failed ${e.failed}`).join("; ")}`,
  )
  return Report.exitCode(report)
}).pipe(Effect.provide(Layer.merge(StateStoreSql.layerPglite(".pipeline/state"), Progress.silent)))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main.pipe(Effect.flatMap((code) => Effect.sync(() => (process.exitCode = code)))))
}
