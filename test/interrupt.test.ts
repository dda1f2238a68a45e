import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

const COMPANY = 4
const CONTACT = 3
const DEAL = 2

describe("pipeline run migrate-legacy, interrupted", () => {
  it.live(
    "SIGINT stops it cleanly with a report; the next run resumes where it stopped, without duplicates",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const legacy = yield* Legacy.seededLegacy("postgres", "b24etl_e2e_sigint_legacy", 150)
          const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_sigint_state")
          // Latency makes the run long enough to interrupt in the middle.
          const portal = yield* Legacy.portal({ latencyMs: 150 })
          const env = {
            LEGACY_DATABASE_URL: legacy.url,
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "unlimited",
            BITRIX24_CONCURRENCY: "2",
            PIPELINE_STATE_URL: state.url,
          }
          // Run from an empty directory: with the portal and the database configured, nothing local
          // (no embedded database, no local emulator) may appear there.
          const cwd = mkdtempSync(join(tmpdir(), "b24etl-sigint-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(cwd, { recursive: true, force: true })))
          const envHere = { ...env, PIPELINE_DIR: join(Cli.root, "pipelines") }
          const first = Cli.start(["run", "migrate-legacy"], envHere, cwd)
          // Interrupt once contacts are being written: companies done, deals not started.
          yield* Effect.promise(async () => {
            for (let i = 0; i < 600; i++) {
              const contacts = portal.store.items(CONTACT).length
              if (contacts >= 100) return
              await new Promise((r) => setTimeout(r, 50))
            }
            throw new Error(`the run did not get to the contacts: ${first.output()}`)
          })
          first.child.kill("SIGINT")
          const stopped = yield* Effect.promise(() => first.done)
          assert.strictEqual(stopped.code, 1, stopped.stdout + stopped.stderr)
          assert.include(stopped.stdout + stopped.stderr, "interrupted")
          const contactsAfterStop = portal.store.items(CONTACT).length
          assert.isBelow(contactsAfterStop, legacy.counts.people)
          assert.strictEqual(portal.store.items(DEAL).length, 0)

          const second = Cli.start(["run", "migrate-legacy"], envHere, cwd)
          const finished = yield* Effect.promise(() => second.done)
          assert.strictEqual(finished.code, 2, finished.stdout + finished.stderr)

          for (const [type, name] of [
            [COMPANY, "company"],
            [CONTACT, "contact"],
            [DEAL, "deal"],
          ] as const) {
            const origins = portal.store.items(type).map((i) => String(i.originId))
            assert.strictEqual(new Set(origins).size, origins.length, `no ${name} twice`)
          }
          // It wrote to the configured portal and nowhere else.
          assert.notInclude(finished.stdout + finished.stderr, "local Bitrix24 emulator")
          assert.isFalse(existsSync(join(cwd, ".pipeline")), `left ${readdirSync(cwd).join(", ")}`)
          // The second run created only what the first had not.
          // The report table's row: ENTITY TARGET READ CREATED ...
          const row = /^contact\s+contact\s+(\d+)\s+(\d+)/m.exec(finished.stdout)
          assert.isNotNull(row, finished.stdout)
          const createdNow = Number(row![2])
          assert.strictEqual(contactsAfterStop + createdNow, portal.store.items(CONTACT).length)
        }),
      ),
    300_000,
  )
})
