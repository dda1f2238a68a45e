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
          assert.include(r.stderr, "interrupted: reading stops now", output)
          assert.match(output, /stopping: (finishing \d+ batch(es)? \([\d,]+ records\)…|no batch in flight)/)
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

  // As a user presses Ctrl-C at a terminal: `pnpm pipeline run` in a process group of its own, and
  // SIGINT to the whole group, so pnpm and the node process running the command both get it (and
  // pnpm forwards its own). Reading stops at once: only the batches in flight are written after the
  // press, the run commits them, reports and exits 1 with its lock released, and the next run
  // reads the rest from the checkpoint without creating anything twice.
  it.live(
    "SIGINT to the process group of `pnpm pipeline run`: batches in flight only, report, exit 1, the next run resumes",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          // Latency keeps batches in flight; plain imports of 50 keep the run going long enough.
          const portal = yield* Emulator.make({ rateLimit: { burst: 0 }, latencyMs: 300 })
          const p = project()
          p.writePipeline("portal.ts", Pipelines.portal)
          const marker = join(p.dir, "reading")
          const env = {
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "unlimited",
            BITRIX24_PACKING: "off",
            BITRIX24_CONCURRENCY: "2",
          }
          let atPress = 0
          const r = yield* Effect.promise(() =>
            p.cli(["run", join(p.dir, "pipelines", "portal.ts")], {
              viaPnpm: true,
              detached: true,
              env,
              onSpawn: (group) => {
                const poll = setInterval(() => {
                  if (existsSync(marker) && portal.store.items(COMPANY).length >= 300) {
                    clearInterval(poll)
                    atPress = portal.store.items(COMPANY).length
                    process.kill(-group, "SIGINT")
                  }
                }, 10)
              },
            }),
          )
          const output = `${r.stdout}\n${r.stderr}`
          assert.strictEqual(r.code, 1, output)
          assert.include(r.stderr, "interrupted: reading stops now", output)
          assert.notInclude(r.stderr, "quitting at once", output)
          const finishing = /stopping: finishing (\d+) batch(?:es)? \(([\d,]+) records\)…/.exec(output)
          assert.isNotNull(finishing, output)
          // Two batches of 50 at a time: at most those the press found sending (and one the
          // signal's delivery may have let start) reach the portal after it.
          assert.isAtMost(Number(finishing![1]), 2, output)
          const written = portal.store.items(COMPANY).length
          assert.isAtLeast(atPress, 300)
          assert.isAtMost(written - atPress, 4 * 50, `pressed at ${atPress}, written ${written}\n${output}`)
          assert.include(r.stdout, "Status: interrupted", output)
          const row = /^company\s+company\s+(\d[\d,]*)\s+(\d[\d,]*)/m.exec(r.stdout)
          assert.isNotNull(row, r.stdout)
          assert.strictEqual(Number(row![2]!.replace(/,/g, "")), written, output)
          // The lock is released and nothing is left pending.
          const status = JSON.parse(
            (yield* Effect.promise(() => p.cli(["status", "portal", "--json"]))).stdout,
          )
          assert.strictEqual(status.runs[0].status, "interrupted")
          assert.deepStrictEqual(status.idMap, [{ entity: "company", created: written, pending: 0 }])
          const next = yield* Effect.promise(() => p.cli(["run", "portal"], { env }))
          assert.strictEqual(next.code, 0, `${next.stdout}\n${next.stderr}`)
          assert.notInclude(next.stderr, "another process", next.stderr)
          const items = portal.store.items(COMPANY)
          assert.strictEqual(items.length, TOTAL)
          assert.strictEqual(new Set(items.map((i) => String(i.title))).size, TOTAL, "no company twice")
        }),
      ),
    240_000,
  )
})
