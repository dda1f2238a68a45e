import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import * as Progress from "@b24etl/core/Progress"
import type { RunReport } from "@b24etl/core/Report"
import * as Runner from "@b24etl/core/Runner"
import { StateStore } from "@b24etl/core/StateStore"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { ConfigProvider, Effect, Layer, type Scope } from "effect"
import * as StateDrivers from "../../packages/core/test/fixtures/StateDrivers.js"
import * as Database from "../../pipelines/legacy/Database.js"
import * as Seed from "../../pipelines/legacy/seed.js"
import migrateLegacy from "../../pipelines/migrate-legacy.js"

/**
 * End-to-end fixtures: a seeded legacy database on a real server, a local portal over HTTP, and
 * a state store, wired to the real `migrate-legacy` pipeline through configuration only.
 */

export type Engine = "postgres" | "mysql"

export const freshDatabase = (engine: Engine, name: string) =>
  engine === "postgres" ? StateDrivers.postgresDatabase(name) : StateDrivers.mysqlDatabase(name)

/** A legacy database on `engine`, seeded with `companies` companies. */
export const seededLegacy = (engine: Engine, name: string, companies: number) =>
  Effect.gen(function* () {
    const database = yield* freshDatabase(engine, name)
    const { db } = yield* Database.connect(database.url)
    const counts = yield* Seed.seed(db, engine, { companies, seed: 7 })
    return { ...database, db, counts }
  })

/** The state store on the same kind of server as the legacy database, in its own database. */
export const stateStore = (engine: Engine, name: string): Layer.Layer<StateStore, unknown> =>
  Layer.unwrapScoped(
    Effect.map(freshDatabase(engine, name), (database) =>
      StateStoreSql.layerFromUrl(database.url, StateDrivers.drivers),
    ),
  )

/** Runs `migrate-legacy` with its settings from a map, as the command line would from the environment. */
export const runMigrate = (
  env: Record<string, string>,
  options: Runner.RunOptions = {},
): Effect.Effect<RunReport, unknown, StateStore> =>
  Runner.run(migrateLegacy, options).pipe(
    Effect.provide(Progress.silent),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
  )

/** A local portal with its limits off, for functional tests. */
export const portal = (
  config: Emulator.EmulatorConfig = {},
): Effect.Effect<Emulator.Service, unknown, Scope.Scope> =>
  Emulator.make({ rateLimit: { rate: 2, burst: 0 }, ...config })

/** The portal methods that write: a request log filtered by them shows whether a run wrote anything. */
export const writeMethods: ReadonlySet<string> = new Set([
  "crm.item.batchImport",
  "crm.item.import",
  "crm.item.add",
  "crm.item.update",
  "crm.item.delete",
  "batch",
])

export { StateStore }
