/**
 * `pipeline undo --run`: deletes what that run created and nothing else (not the items of an
 * earlier run, not items made by hand, not another pipeline's item carrying the same origin id),
 * finishes after a SIGKILL when started again, and a run afterwards creates everything again.
 * Real processes, real PostgreSQL state, the emulator over HTTP.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

const COMPANY = 4
const CONTACT = 3
const DEAL = 2
const TYPES = [COMPANY, CONTACT, DEAL] as const

const snapshot = (items: ReadonlyArray<Record<string, unknown>>) =>
  new Map(items.map((i) => [String(i.id), JSON.stringify(i)] as const))

describe("pipeline undo", () => {
  it.live(
    "undo --run deletes that run's items only; a SIGKILL and a second undo finish it; run creates them again",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "b24etl_e2e_verify17_undo_legacy", 60)
          const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_verify17_undo_state")
          // Latency makes the undo long enough to kill in the middle.
          const portal = yield* Legacy.portal({ latencyMs: 60 })
          const env = {
            LEGACY_DATABASE_URL: legacy.url,
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "unlimited",
            PIPELINE_STATE_URL: state.url,
          }
          const cli = (args: ReadonlyArray<string>) => Effect.promise(() => Cli.start(args, env).done)
          // Items the pipeline did not create: by hand, and another pipeline's with our origin ids.
          const byHand = yield* portal.seed(CONTACT, { name: "BY HAND" })
          const otherPipeline = yield* portal.seed(CONTACT, {
            name: "OTHER PIPELINE",
            originatorId: "another-crm",
            originId: "contact:1",
          })
          const otherDeal = yield* portal.seed(DEAL, {
            title: "OTHER DEAL",
            originatorId: "another-crm",
            originId: "deal:1",
          })

          const companies = yield* cli(["run", "migrate-legacy", "--entity", "company"])
          assert.strictEqual(companies.code, 0, companies.stdout + companies.stderr)
          const rest = yield* cli(["run", "migrate-legacy"])
          assert.include([0, 2], rest.code, rest.stdout + rest.stderr)
          const runs = yield* state.query(
            "select id from runs where pipeline = 'migrate-legacy' order by started_at",
          )
          assert.strictEqual(runs.length, 2)
          const second = String(runs[1]!.id)
          const madeBySecond = yield* state.query(
            `select entity, target_id from id_map where pipeline = 'migrate-legacy' and status = 'created' and batch_id like '${second}:%'`,
          )
          const secondIds = new Set(madeBySecond.map((r) => `${r.entity}:${r.target_id}`))
          assert.isAbove(
            madeBySecond.filter((r) => r.entity === "deal").length,
            50,
            "several batches of deals",
          )
          assert.isAbove(madeBySecond.filter((r) => r.entity === "contact").length, 50)
          assert.strictEqual(madeBySecond.filter((r) => r.entity === "company").length, 0)
          // One of the run's contacts whose identity someone changed in the portal: no longer provably ours.
          const renamed = String(madeBySecond.find((r) => r.entity === "contact")!.target_id)
          portal.store.update(CONTACT, Number(renamed), { originId: "by-hand:1" })
          const before = new Map<number, Map<string, string>>()
          for (const type of TYPES) before.set(type, snapshot(yield* portal.items(type)))
          const ourContacts = (yield* portal.items(CONTACT)).filter(
            (i) => i.originatorId === "legacy-crm",
          ).length
          const ourDeals = (yield* portal.items(DEAL)).filter((i) => i.originatorId === "legacy-crm").length

          // Without a terminal and without --yes: the counts, a refusal, nothing deleted.
          const refused = yield* cli(["undo", "migrate-legacy", "--run", second])
          assert.strictEqual(refused.code, 1, refused.stdout + refused.stderr)
          assert.include(refused.stdout, "Updates are not undone")
          assert.include(refused.stderr, "--yes")
          assert.strictEqual((yield* portal.items(DEAL)).length, before.get(DEAL)!.size)

          const dry = yield* cli(["undo", "migrate-legacy", "--run", second, "--dry-run", "--json"])
          assert.strictEqual(dry.code, 0, dry.stdout + dry.stderr)
          const counted = JSON.parse(dry.stdout) as { entities: Array<{ entity: string; items: number }> }
          assert.deepStrictEqual(
            counted.entities.map((e) => e.entity),
            ["deal", "contact", "company"],
            "children first",
          )
          assert.strictEqual(
            counted.entities.reduce((n, e) => n + e.items, 0),
            secondIds.size,
          )
          assert.strictEqual((yield* portal.items(DEAL)).length, before.get(DEAL)!.size)

          // Killed once the deals are going: some deleted, not all.
          const first = Cli.start(["undo", "migrate-legacy", "--run", second, "--yes"], env)
          yield* Effect.promise(async () => {
            for (let i = 0; i < 1_200; i++) {
              if (portal.store.items(DEAL).length < before.get(DEAL)!.size) return
              await new Promise((r) => setTimeout(r, 10))
            }
            throw new Error(`the undo did not start deleting: ${first.output()}`)
          })
          first.child.kill("SIGKILL")
          const killed = yield* Effect.promise(() => first.done)
          assert.strictEqual(killed.signal, "SIGKILL")
          const contactsLeft = portal.store
            .items(CONTACT)
            .filter((i) => i.originatorId === "legacy-crm").length
          assert.strictEqual(contactsLeft, ourContacts, `killed before the contacts: ${killed.stdout}`)

          // The killed process held the pipeline's lock: the second undo waits for its lease to run out.
          let finish = yield* cli(["undo", "migrate-legacy", "--run", second, "--yes"])
          for (let i = 0; i < 30 && finish.code === 1 && finish.stderr.includes("another process"); i++) {
            yield* Effect.sleep("3 seconds")
            finish = yield* cli(["undo", "migrate-legacy", "--run", second, "--yes"])
          }
          assert.strictEqual(finish.code, 0, finish.stdout + finish.stderr)
          assert.include(finish.stdout, "Updates are not undone")
          for (const type of TYPES) {
            const now = snapshot(yield* portal.items(type))
            for (const [id, item] of before.get(type)!) {
              const entity = type === COMPANY ? "company" : type === CONTACT ? "contact" : "deal"
              if (secondIds.has(`${entity}:${id}`) && !(entity === "contact" && id === renamed))
                assert.isFalse(now.has(id), `${entity} ${id} deleted`)
              else assert.strictEqual(now.get(id), item, `${entity} ${id} untouched`)
            }
            const entity = type === COMPANY ? "company" : type === CONTACT ? "contact" : "deal"
            const deleted =
              madeBySecond.filter((r) => r.entity === entity).length - (type === CONTACT ? 1 : 0)
            assert.strictEqual(now.size, before.get(type)!.size - deleted, entity)
          }
          assert.include(finish.stdout, `contact:`)
          assert.include(finish.stdout, `item ${renamed} left alone`)
          for (const item of [byHand, otherPipeline])
            assert.isDefined(portal.store.items(CONTACT).find((i) => i.id === item.id))
          assert.isDefined(portal.store.items(DEAL).find((i) => i.id === otherDeal.id))
          const rows = yield* state.query(
            `select status, count(*)::int as n from id_map where pipeline = 'migrate-legacy' and batch_id like '${second}:%' group by status`,
          )
          assert.deepStrictEqual(rows, [{ status: "deleted", n: secondIds.size }])

          const again = yield* cli(["run", "migrate-legacy"])
          assert.include([0, 2], again.code, again.stdout + again.stderr)
          const ours = (type: number) =>
            portal.store.items(type).filter((i) => i.originatorId === "legacy-crm")
          // Every contact again, and the renamed one still there beside its record's new item.
          assert.strictEqual(ours(CONTACT).length, ourContacts + 1)
          assert.strictEqual(ours(DEAL).length, ourDeals)
          for (const type of TYPES) {
            const origins = ours(type).map((i) => String(i.originId))
            assert.strictEqual(new Set(origins).size, origins.length, `type ${type}: no origin id twice`)
          }
        }),
      ),
    300_000,
  )

  it.live(
    "Ctrl-C stops undo after the batch in flight and still prints what it did (exit 1)",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "b24etl-verify17-undo-sigint-"))
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
          const deals = portal.store.items(DEAL).length
          // Slow answers: the press comes while the deals' batch is on its way.
          yield* portal.setLatency(1_500)
          const undo = Cli.start(["undo", "verify-shop", "--yes"], env)
          yield* Effect.promise(async () => {
            for (let i = 0; i < 6_000; i++) {
              if (portal.store.items(DEAL).length < deals) return
              await new Promise((r) => setTimeout(r, 10))
            }
            throw new Error(`undo did not start deleting: ${undo.output()}`)
          })
          undo.child.kill("SIGINT")
          const stopped = yield* Effect.promise(() => undo.done)
          assert.strictEqual(stopped.code, 1, stopped.stdout + stopped.stderr)
          assert.include(stopped.stderr, "stopping: finishing the batch in flight")
          assert.include(stopped.stdout, "(stopped before the end)")
          assert.include(stopped.stdout, "again finishes the job")
          assert.strictEqual(portal.store.items(DEAL).length, 0, "the deals' batch finished")
          assert.strictEqual(portal.store.items(COMPANY).length, 8, "the companies were not reached")
        }),
      ),
    300_000,
  )
})
