/**
 * `pipeline verify`: after a clean migration every count is equal and it exits 0; with six
 * differences planted (an item deleted in the portal, a title edited there, a stray item of the
 * originator, a deal's company changed, two items with one origin id, a record deleted in the
 * source) it reports exactly those six, each once, and exits 1. It writes nothing to the portal.
 * Real processes, PostgreSQL state, the emulator over HTTP.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Progress from "@b24etl/core/Progress"
import * as Runner from "@b24etl/core/Runner"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import verifyShop from "./fixtures/pipelines/verify-shop.js"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

const COMPANY = 4
const CONTACT = 3
const DEAL = 2

interface Finding {
  readonly kind: string
  readonly entity: string
  readonly key: string
  readonly targetIds: ReadonlyArray<string>
  readonly fields?: ReadonlyArray<{ readonly field: string; readonly text: string }>
  readonly message: string
  readonly action: string
}
interface Result {
  readonly entities: ReadonlyArray<{
    readonly entity: string
    readonly source: number
    readonly idMap: Record<string, number>
    readonly portal: number
    readonly compared: number
  }>
  readonly findings: ReadonlyArray<Finding>
  readonly interrupted: boolean
}

const writes = /add|update|delete|import|batch/i

describe("pipeline verify", () => {
  it.live(
    "a clean migration matches (exit 0); six planted differences are each reported once (exit 1)",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_verify17_verify_state")
          const portal = yield* Legacy.portal()
          const env = {
            PIPELINE_DIR: join(Cli.root, "test/fixtures/pipelines"),
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "unlimited",
            PIPELINE_STATE_URL: state.url,
          }
          const cli = (args: ReadonlyArray<string>, extra: Record<string, string> = {}) =>
            Effect.promise(() => Cli.start(args, { ...env, ...extra }).done)
          // An item of another pipeline is none of verify's business.
          yield* portal.seed(COMPANY, {
            title: "NOT OURS",
            originatorId: "another-crm",
            originId: "company:1",
          })

          const run = yield* cli(["run", "verify-shop"])
          assert.strictEqual(run.code, 0, run.stdout + run.stderr)

          const logged = (yield* portal.requestLog).length
          const clean = yield* cli(["verify", "verify-shop"])
          assert.strictEqual(clean.code, 0, clean.stdout + clean.stderr)
          assert.match(
            clean.stdout,
            /reads the portal with about \d+ requests \(crm\.item\.list, 50 items a page/,
          )
          assert.match(clean.stdout, /^company\s+company\s+8\s+0\s+8\s+0\s+0\s+0\s+8\s+8$/m)
          assert.match(clean.stdout, /^contact\s+contact\s+6\s+0\s+6\s+0\s+0\s+0\s+6\s+6$/m)
          assert.match(clean.stdout, /^deal\s+deal\s+6\s+0\s+6\s+0\s+0\s+0\s+6\s+6$/m)
          assert.include(clean.stdout, "Everything matches")
          const cleanJson = yield* cli(["verify", "verify-shop", "--json", "--sample", "all"])
          assert.strictEqual(cleanJson.code, 0, cleanJson.stdout + cleanJson.stderr)
          const matched = JSON.parse(cleanJson.stdout) as Result
          assert.deepStrictEqual(matched.findings, [])
          for (const e of matched.entities) {
            assert.strictEqual(e.idMap.created, e.source, e.entity)
            assert.strictEqual(e.portal, e.source, e.entity)
            assert.strictEqual(e.compared, e.source, e.entity)
          }
          const verifyRequests = (yield* portal.requestLog).slice(logged)
          assert.isAbove(verifyRequests.length, 0)
          assert.deepStrictEqual(
            verifyRequests.filter((r) => writes.test(r.method)).map((r) => r.method),
            [],
            "verify writes nothing",
          )

          // Six differences.
          const idOf = (entity: string, key: string) =>
            Effect.map(
              state.query(
                `select target_id from id_map where pipeline = 'verify-shop' and entity = '${entity}' and source_key = '${key}'`,
              ),
              (rows) => Number(rows[0]!.target_id),
            )
          const company8 = yield* idOf("company", "8")
          const company5 = yield* idOf("company", "5")
          const company3 = yield* idOf("company", "3")
          const deal1 = yield* idOf("deal", "1")
          const deal6 = yield* idOf("deal", "6")
          const contact3 = yield* idOf("contact", "3")
          assert.isTrue(portal.store.delete(COMPANY, company8), "deleted by hand")
          portal.store.update(COMPANY, company5, { title: "Edited by hand" })
          const stray = yield* portal.seed(COMPANY, {
            title: "Imported outside the state",
            originatorId: "verify-shop",
            originId: "company:999",
          })
          portal.store.update(DEAL, deal1, { companyId: company3 })
          const copy = yield* portal.seed(CONTACT, {
            name: "Person 3",
            originatorId: "verify-shop",
            originId: "contact:3",
          })
          const gone = { VERIFY_GONE: "6" }
          const before = JSON.stringify([
            portal.store.items(COMPANY),
            portal.store.items(CONTACT),
            portal.store.items(DEAL),
          ])

          const planted = yield* cli(["verify", "verify-shop", "--json", "--sample", "all"], gone)
          assert.strictEqual(planted.code, 1, planted.stdout + planted.stderr)
          assert.match(planted.stderr, /reads the portal with about \d+ requests/)
          const result = JSON.parse(planted.stdout) as Result
          const summary = result.findings.map((f) => `${f.kind} ${f.entity}:${f.key}`).sort()
          assert.deepStrictEqual(summary, [
            "content company:5",
            "duplicate contact:3",
            "extra company:999",
            "gone deal:6",
            "link deal:1",
            "missing company:8",
          ])
          const find = (kind: string) => result.findings.find((f) => f.kind === kind)!
          assert.deepStrictEqual(
            find("content").fields!.map((f) => f.text),
            ['title: source "Shop company 5", portal "Edited by hand"'],
          )
          assert.strictEqual(find("content").action, "relink")
          assert.deepStrictEqual(
            find("link").fields!.map((f) => f.field),
            ["companyId"],
          )
          assert.include(find("link").message, `portal ${company3}`)
          assert.strictEqual(find("link").action, "relink")
          assert.deepStrictEqual(find("duplicate").targetIds, [String(contact3), String(copy.id)])
          assert.strictEqual(find("duplicate").action, "delete in portal")
          assert.deepStrictEqual(find("extra").targetIds, [String(stray.id)])
          assert.deepStrictEqual(find("missing").targetIds, [String(company8)])
          assert.strictEqual(find("missing").action, "relink")
          assert.deepStrictEqual(find("gone").targetIds, [String(deal6)])
          const counts = new Map(result.entities.map((e) => [e.entity, e]))
          assert.strictEqual(counts.get("company")!.portal, 8, "7 of the 8 and the stray one")
          assert.strictEqual(counts.get("contact")!.portal, 7, "6 and the copy")
          assert.strictEqual(counts.get("deal")!.source, 5)
          assert.strictEqual(counts.get("deal")!.idMap.created, 6)

          // The same as text, for people.
          const text = yield* cli(["verify", "verify-shop"], gone)
          assert.strictEqual(text.code, 1, text.stdout + text.stderr)
          assert.include(text.stdout, "6 differences:")
          for (const heading of [
            "MISSING (1)",
            "EXTRA (1)",
            "DUPLICATE (1)",
            "LINK (1)",
            "GONE FROM SOURCE (1)",
            "CONTENT (1)",
          ])
            assert.include(text.stdout, heading)
          assert.notInclude(text.stdout, "NOT MIGRATED")
          assert.include(
            text.stdout,
            'title: source "Shop company 5", portal "Edited by hand" (the portal was changed',
          )
          assert.include(text.stdout, "What to do:")
          assert.include(text.stdout, "pnpm pipeline relink verify-shop --entity <entity>")
          assert.strictEqual(
            JSON.stringify([
              portal.store.items(COMPANY),
              portal.store.items(CONTACT),
              portal.store.items(DEAL),
            ]),
            before,
            "verify changed nothing in the portal",
          )
        }),
      ),
    300_000,
  )

  it.live(
    "on every state dialect (SQLite, PGlite, PostgreSQL, MariaDB): a clean migration matches, an item deleted by hand is missing",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "b24etl-verify17-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
          const stores = [
            ["SQLite", StateStoreSql.layerSqlite(join(dir, "sqlite"))],
            ["PGlite", StateStoreSql.layerPglite(join(dir, "pglite"))],
            ["PostgreSQL", Legacy.stateStore("postgres", "b24etl_e2e_verify17_dialect")],
            ["MariaDB", Legacy.stateStore("mysql", "b24etl_e2e_verify17_dialect")],
          ] as const
          for (const [dialect, store] of stores) {
            const portal = yield* Legacy.portal()
            const config = ConfigProvider.fromMap(
              new Map([
                ["BITRIX24_WEBHOOK_URL", portal.webhookUrl],
                ["BITRIX24_RATE", "unlimited"],
              ]),
            )
            const outcome = yield* Effect.gen(function* () {
              const report = yield* Runner.run(verifyShop)
              assert.strictEqual(report.status, "succeeded", dialect)
              const clean = yield* Runner.verify(verifyShop, { sample: "all" })
              const company = yield* Runner.verify(verifyShop, { entities: ["company"] })
              const [id] = portal.store.items(COMPANY).map((i) => i.id)
              portal.store.delete(COMPANY, id!)
              const after = yield* Runner.verify(verifyShop, { sample: "all" })
              return { clean, company, after, id: String(id) }
            }).pipe(
              Effect.provide(Layer.merge(Layer.orDie(store), Progress.silent)),
              Effect.withConfigProvider(config),
            )
            assert.isTrue(
              Runner.verified(outcome.clean),
              `${dialect}: ${JSON.stringify(outcome.clean.findings)}`,
            )
            assert.deepStrictEqual(
              outcome.clean.entities.map((e) => [e.entity, e.source, e.idMap.created, e.portal, e.compared]),
              [
                ["company", 8, 8, 8, 8],
                ["contact", 6, 6, 6, 6],
                ["deal", 6, 6, 6, 6],
              ],
              dialect,
            )
            assert.deepStrictEqual(
              outcome.company.entities.map((e) => e.entity),
              ["company"],
            )
            assert.deepStrictEqual(
              outcome.after.findings.map((f) => [f.kind, f.entity, f.targetIds[0]]),
              [["missing", "company", outcome.id]],
              dialect,
            )
          }
        }),
      ),
    300_000,
  )

  it.live(
    "Ctrl-C stops verify while it reads the portal: nothing compared, exit 1",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "b24etl-verify17-sigint-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
          const portal = yield* Legacy.portal()
          const env = {
            PIPELINE_DIR: join(Cli.root, "test/fixtures/pipelines"),
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "unlimited",
            PIPELINE_STATE_URL: dir,
          }
          const run = yield* Effect.promise(() => Cli.start(["run", "verify-shop"], env).done)
          assert.strictEqual(run.code, 0, run.stdout + run.stderr)
          // Slow answers keep the reading going long enough to interrupt it.
          yield* portal.setLatency(2_000)
          const verify = Cli.start(["verify", "verify-shop"], env)
          yield* Effect.promise(async () => {
            for (let i = 0; i < 3_000; i++) {
              if (verify.output().includes("reads the portal with")) return
              await new Promise((r) => setTimeout(r, 10))
            }
            throw new Error(`verify did not start: ${verify.output()}`)
          })
          verify.child.kill("SIGINT")
          const stopped = yield* Effect.promise(() => verify.done)
          assert.strictEqual(stopped.code, 1, stopped.stdout + stopped.stderr)
          assert.include(stopped.stderr, "stopping: nothing was written")
          assert.include(stopped.stdout, "Stopped before the comparison: nothing was compared.")
          assert.notInclude(stopped.stdout, "Everything matches")
        }),
      ),
    300_000,
  )
})
