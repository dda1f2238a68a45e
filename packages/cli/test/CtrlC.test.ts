import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { project } from "./fixtures/Cli.js"
import * as Pipelines from "./fixtures/pipelines.js"

const COMPANY = 4
const TOTAL = 3_000

// Ctrl-C under `pnpm pipeline run` (`tsx packages/cli/src/bin.ts run`): the terminal sends SIGINT
// to the whole process group, and pnpm and tsx forward it, so the process running the command sees
// the one press two or more times within milliseconds. That must stop the run gracefully, not
// quit it at once. (The signals go to that process itself: tsx's parent, given a signal, kills its
// child outright when the child does not acknowledge within 60 ms, which a busy run may not.)
describe("Ctrl-C (child process, Bitrix24 emulator)", () => {
  it.live(
    "two SIGINTs within 100 ms to the process of `tsx bin.ts run` are one press: the report is printed, exit 1",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          // Latency keeps batches in flight when the signals come.
          const portal = yield* Emulator.make({ rateLimit: { burst: 0 }, latencyMs: 150 })
          const p = project()
          p.writePipeline("portal.ts", Pipelines.portal)
          const marker = join(p.dir, "reading")
          const pidFile = join(p.dir, "pid")
          const r = yield* Effect.promise(() =>
            p.cli(["run", "portal"], {
              viaTsx: true,
              env: {
                BITRIX24_WEBHOOK_URL: portal.webhookUrl,
                BITRIX24_RATE: "unlimited",
                BITRIX24_CONCURRENCY: "2",
              },
              onSpawn: () => {
                const poll = setInterval(() => {
                  // Once some companies are written, so that batches are in flight.
                  if (existsSync(marker) && portal.store.items(COMPANY).length >= 100) {
                    clearInterval(poll)
                    const pid = Number(readFileSync(pidFile, "utf8"))
                    process.kill(pid, "SIGINT")
                    setTimeout(() => process.kill(pid, "SIGINT"), 60)
                  }
                }, 20)
              },
            }),
          )
          const output = `${r.stdout}\n${r.stderr}`
          assert.strictEqual(r.code, 1, output)
          assert.include(r.stderr, "stopping: finishing the batches in flight", output)
          assert.notInclude(r.stderr, "quitting at once", output)
          assert.include(r.stdout, "Status: interrupted", output)
          const row = /^company\s+company\s+(\d[\d,]*)\s+(\d[\d,]*)/m.exec(r.stdout)
          assert.isNotNull(row, r.stdout)
          const created = Number(row![2]!.replace(/,/g, ""))
          const written = portal.store.items(COMPANY).length
          // What the report says was created is what the portal has: the batches in flight were committed.
          assert.strictEqual(created, written, output)
          assert.isBelow(written, TOTAL)
          const status = JSON.parse(
            (yield* Effect.promise(() => p.cli(["status", "portal", "--json"]))).stdout,
          )
          assert.strictEqual(status.runs[0].status, "interrupted")
          assert.deepStrictEqual(status.idMap, [{ entity: "company", created: written, pending: 0 }])
        }),
      ),
    180_000,
  )
})
