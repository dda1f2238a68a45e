/**
 * A pipeline's state belongs to one portal and one originator: a run against another portal
 * stops before it writes; a reset or a lost state never duplicates (the run adopts what the
 * portal holds); `relink` rebuilds the id map from the portal; two pipelines with one originator
 * on one portal and one store are refused. Real PostgreSQL, the emulator over HTTP.
 */
import * as Sql from "@b24etl/connectors/Sql"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import * as Runner from "@b24etl/core/Runner"
import { StateStore } from "@b24etl/core/StateStore"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Layer } from "effect"
import * as StateDrivers from "../packages/core/test/fixtures/StateDrivers.js"
import migrateLegacy from "../pipelines/migrate-legacy.js"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

const COMPANY = 4
const CONTACT = 3
const DEAL = 2

/** A state store in a database of its own, with raw SQL to look at its id map. */
const state = (name: string) =>
  Effect.map(StateDrivers.postgresDatabase(name), (db) => ({
    layer: StateStoreSql.layerFromUrl(db.url, StateDrivers.drivers),
    idMap: Effect.map(
      db.query(
        "select entity, source_key, target_id from id_map where pipeline = 'migrate-legacy' and status = 'created' order by entity, source_key",
      ),
      (rows) => rows.map((r) => `${r.entity}:${r.source_key}=${r.target_id}`),
    ),
  }))

/** Origin ids that more than one item of the type carries. */
const duplicated = (items: ReadonlyArray<Record<string, unknown>>) => {
  const seen = new Map<string, number>()
  for (const i of items) seen.set(String(i.originId), (seen.get(String(i.originId)) ?? 0) + 1)
  return [...seen].filter(([, n]) => n > 1).map(([o]) => o)
}

describe("binding: a pipeline's state belongs to one portal", () => {
  it.live(
    "the state reused against another portal stops before any write, naming both hosts; that portal is unchanged",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "b24etl_e2e_bind_legacy_a", 15)
          const demo = yield* Legacy.portal()
          const real = yield* Legacy.portal()
          for (let i = 1; i <= 6; i++) yield* real.seed(COMPANY, { title: `REAL CUSTOMER ${i}` })
          const realBefore = JSON.stringify(yield* real.items(COMPANY))
          const store = yield* state("b24etl_e2e_bind_state_a")
          yield* Effect.gen(function* () {
            const first = yield* Legacy.runMigrate({
              LEGACY_DATABASE_URL: legacy.url,
              BITRIX24_WEBHOOK_URL: demo.webhookUrl,
            })
            assert.notStrictEqual(first.status, "failed", first.error)
            // A source row changes, as in the reported case: the sync would update ids of the first portal.
            yield* Effect.promise(() =>
              legacy.db
                .updateTable("accounts")
                .set({ name: "Großhandel Köhler (edited)", updated_at: new Date("2030-01-01T00:00:00Z") })
                .where("id", "in", [2, 4])
                .execute(),
            )
            const error = yield* Effect.flip(
              Legacy.runMigrate({ LEGACY_DATABASE_URL: legacy.url, BITRIX24_WEBHOOK_URL: real.webhookUrl }),
            )
            assert.strictEqual((error as Runner.RunError)._tag, "RunError")
            const message = (error as Runner.RunError).message
            assert.include(message, `127.0.0.1:${demo.port}`)
            assert.include(message, `127.0.0.1:${real.port}`)
            assert.include(message, "pipeline relink migrate-legacy")
            assert.include(message, "pipeline reset migrate-legacy --yes")
            assert.include(message, "PIPELINE_STATE_URL")
            assert.notInclude(message, real.webhookUrl.split("/rest/")[1]!.split("/")[1]!, "no webhook code")
            const writes = (yield* real.requestLog).filter((e) => Legacy.writeMethods.has(e.method))
            assert.deepStrictEqual(writes, [], "no write reached the other portal")
            assert.strictEqual(JSON.stringify(yield* real.items(COMPANY)), realBefore)
            assert.strictEqual((yield* real.items(CONTACT)).length, 0)
          }).pipe(Effect.provide(store.layer))
        }),
      ),
    240_000,
  )

  it.live(
    "reset of one entity, and a lost state: the run adopts what the portal holds, no originId twice",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "b24etl_e2e_bind_legacy_b", 15)
          const portal = yield* Legacy.portal()
          const env = { LEGACY_DATABASE_URL: legacy.url, BITRIX24_WEBHOOK_URL: portal.webhookUrl }
          const first = yield* state("b24etl_e2e_bind_state_b1")
          const deals = yield* Effect.gen(function* () {
            yield* Legacy.runMigrate(env)
            const deals = (yield* portal.items(DEAL)).length
            assert.isAbove(deals, 0)
            const store = yield* StateStore
            yield* store.reset("migrate-legacy", "deal")
            const again = yield* Legacy.runMigrate(env)
            const deal = again.entities.find((e) => e.entity === "deal")!
            assert.strictEqual(deal.adopted, deals, "every deal adopted")
            assert.strictEqual(deal.created, 0)
            assert.isUndefined(again.entities.find((e) => e.entity === "company")!.adopted)
            return deals
          }).pipe(Effect.provide(first.layer))
          assert.deepStrictEqual(duplicated(yield* portal.items(DEAL)), [])
          assert.strictEqual((yield* portal.items(DEAL)).length, deals)

          // A state directory deleted: a new, empty store.
          const companies = (yield* portal.items(COMPANY)).length
          const contacts = (yield* portal.items(CONTACT)).length
          const lost = yield* state("b24etl_e2e_bind_state_b2")
          const report = yield* Legacy.runMigrate(env).pipe(Effect.provide(lost.layer))
          const by = (name: string) => report.entities.find((e) => e.entity === name)!
          assert.strictEqual(by("company").adopted, companies)
          assert.strictEqual(by("contact").adopted, contacts)
          assert.strictEqual(by("deal").adopted, deals)
          for (const name of ["company", "contact", "deal"]) assert.strictEqual(by(name).created, 0, name)
          for (const type of [COMPANY, CONTACT, DEAL]) {
            const items = yield* portal.items(type)
            assert.deepStrictEqual(duplicated(items), [], `type ${type}`)
          }
          assert.strictEqual((yield* portal.items(COMPANY)).length, companies)
          assert.strictEqual((yield* portal.items(CONTACT)).length, contacts)
        }),
      ),
    240_000,
  )

  it.live(
    "relink after a lost state restores the id map (same key, same id) and the next run creates nothing",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "b24etl_e2e_bind_legacy_c", 15)
          const portal = yield* Legacy.portal()
          const env = { LEGACY_DATABASE_URL: legacy.url, BITRIX24_WEBHOOK_URL: portal.webhookUrl }
          const original = yield* state("b24etl_e2e_bind_state_c1")
          yield* Legacy.runMigrate(env).pipe(Effect.provide(original.layer))
          const before = yield* original.idMap
          assert.isAbove(before.length, 10)

          const lost = yield* state("b24etl_e2e_bind_state_c2")
          const withEnv = Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
          const result = yield* Runner.relink(migrateLegacy).pipe(
            withEnv,
            Effect.provide(Layer.merge(lost.layer, Progress.silent)),
          )
          assert.strictEqual(
            result.entities.reduce((n, e) => n + e.adopted, 0),
            before.length,
          )
          for (const e of result.entities) assert.deepStrictEqual(e.duplicates, [], e.entity)
          assert.deepStrictEqual(yield* lost.idMap, before)

          const imports = Effect.map(portal.counters, (c) => c.byMethod["crm.item.batchImport"] ?? 0)
          const sent = yield* imports
          const next = yield* Legacy.runMigrate(env).pipe(Effect.provide(lost.layer))
          for (const e of next.entities) assert.strictEqual(e.created, 0, e.entity)
          assert.strictEqual(yield* imports, sent, "no create was sent")
          assert.deepStrictEqual(yield* lost.idMap, before)
        }),
      ),
    240_000,
  )

  it.live(
    "a second pipeline with the same originator on the same portal and store is refused and adopts nothing",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "b24etl_e2e_bind_legacy_d", 10)
          const portal = yield* Legacy.portal()
          const env = { LEGACY_DATABASE_URL: legacy.url, BITRIX24_WEBHOOK_URL: portal.webhookUrl }
          const withEnv = Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
          const other = Pipeline.make({
            name: "other-import",
            sink: Bitrix24.fromEnv(),
            options: { originator: "legacy-crm" },
            entities: {
              company: Pipeline.entity({
                from: Sql.source({ name: "legacy-crm", url: Config.redacted("LEGACY_DATABASE_URL") }).table<{
                  id: number
                  name: string
                }>("accounts", { key: "id" }),
                to: Bitrix24.company,
                map: (r) => ({ title: `other ${r.name}` }),
              }),
            },
          })
          const store = yield* state("b24etl_e2e_bind_state_d")
          yield* Effect.gen(function* () {
            yield* Legacy.runMigrate(env)
            const before = JSON.stringify(yield* portal.items(COMPANY))
            const error = yield* Effect.flip(Runner.run(other).pipe(withEnv, Effect.provide(Progress.silent)))
            assert.strictEqual(error._tag, "RunError")
            assert.include(
              error.message,
              'pipeline "migrate-legacy" already writes items with originator "legacy-crm"',
            )
            assert.include(error.message, "originator")
            const relinked = yield* Effect.flip(
              Runner.relink(other).pipe(withEnv, Effect.provide(Progress.silent)),
            )
            assert.include(relinked.message, "migrate-legacy")
            const s = yield* StateStore
            assert.deepStrictEqual(yield* s.idMapCounts("other-import"), [], "nothing adopted")
            assert.strictEqual(JSON.stringify(yield* portal.items(COMPANY)), before)
          }).pipe(Effect.provide(store.layer))
        }),
      ),
    240_000,
  )

  it.live(
    "from the command line: exit 1 against another portal, relink moves the state there, status shows the binding",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "b24etl_e2e_bind_legacy_e", 8)
          const first = yield* Legacy.portal()
          const second = yield* Legacy.portal()
          const stateDb = yield* StateDrivers.postgresDatabase("b24etl_e2e_bind_state_e")
          const cli = (args: ReadonlyArray<string>, portal: { webhookUrl: string }) =>
            Effect.promise(
              () =>
                Cli.start(args, {
                  LEGACY_DATABASE_URL: legacy.url,
                  BITRIX24_WEBHOOK_URL: portal.webhookUrl,
                  BITRIX24_RATE: "unlimited",
                  PIPELINE_STATE_URL: stateDb.url,
                }).done,
            )
          const ran = yield* cli(["run", "migrate-legacy"], first)
          assert.include([0, 2], ran.code, ran.stdout + ran.stderr)
          const refused = yield* cli(["run", "migrate-legacy"], second)
          assert.strictEqual(refused.code, 1, refused.stdout + refused.stderr)
          assert.include(refused.stderr, `bitrix24 http://127.0.0.1:${first.port} (webhook user 1)`)
          assert.include(refused.stderr, `bitrix24 http://127.0.0.1:${second.port} (webhook user 1)`)
          assert.deepStrictEqual(
            (yield* second.requestLog).filter((e) => Legacy.writeMethods.has(e.method)),
            [],
          )
          const relinked = yield* cli(["relink", "migrate-legacy", "--yes"], second)
          assert.strictEqual(relinked.code, 0, relinked.stdout + relinked.stderr)
          assert.include(
            relinked.stdout,
            `Relinked pipeline migrate-legacy to bitrix24 http://127.0.0.1:${second.port}`,
          )
          const status = yield* cli(["status", "migrate-legacy"], second)
          assert.include(
            status.stdout,
            `Bound to: bitrix24 http://127.0.0.1:${second.port} (webhook user 1), originator legacy-crm`,
          )
          const moved = yield* cli(["run", "migrate-legacy"], second)
          assert.include([0, 2], moved.code, moved.stdout + moved.stderr)
          const companies = yield* second.items(COMPANY)
          assert.isAbove(companies.length, 0)
          assert.deepStrictEqual(duplicated(companies), [])
        }),
      ),
    240_000,
  )

  it.live(
    "a record the portal holds twice is never matched to one item nor created a third time: it is a dead letter, held back until relinked",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "b24etl_e2e_bind_legacy_f", 10)
          const portal = yield* Legacy.portal()
          const env = { LEGACY_DATABASE_URL: legacy.url, BITRIX24_WEBHOOK_URL: portal.webhookUrl }
          const withEnv = Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
          const original = yield* state("b24etl_e2e_bind_state_f1")
          yield* Legacy.runMigrate(env).pipe(Effect.provide(original.layer))
          const companies = yield* portal.items(COMPANY)
          const twin = companies.find((c) => c.originId === "company:1")!
          // Another tool made company:1 a second time.
          const copy = yield* portal.seed(COMPANY, {
            title: "copy",
            originatorId: "legacy-crm",
            originId: "company:1",
          })
          const ids = [String(twin.id), String(copy.id)]

          const lost = yield* state("b24etl_e2e_bind_state_f2")
          yield* Effect.gen(function* () {
            const report = yield* Legacy.runMigrate(env)
            const company = report.entities.find((e) => e.entity === "company")!
            assert.strictEqual(company.adopted, companies.length - 1)
            assert.strictEqual(company.created, 0)
            assert.isAtLeast(company.failed, 1)
            const store = yield* StateStore
            const letters = yield* store.deadLetters("migrate-legacy", { entity: "company" })
            const held = letters.find((d) => d.sourceKey === "1")!
            assert.strictEqual(held.code, "DUPLICATE_IN_TARGET")
            for (const id of ids) assert.include(held.message, id)
            const relinked = yield* Runner.relink(migrateLegacy, { entities: ["company"] }).pipe(
              withEnv,
              Effect.provide(Progress.silent),
            )
            assert.deepStrictEqual(relinked.entities[0]!.duplicates, [{ key: "1", targetIds: ids }])
            const again = yield* Legacy.runMigrate(env)
            assert.strictEqual(again.entities.find((e) => e.entity === "company")!.created, 0)
          }).pipe(Effect.provide(lost.layer))
          const twice = (yield* portal.items(COMPANY)).filter((c) => c.originId === "company:1")
          assert.strictEqual(twice.length, 2, "no third copy")
        }),
      ),
    240_000,
  )
})
