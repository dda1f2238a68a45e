import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

const pipelines = join(Cli.root, "test/fixtures/pipelines")
const TICK_MS = 3_000

const waitFor = (what: string, check: () => boolean, output: () => string, timeoutMs = 120_000) =>
  Effect.promise(async () => {
    const until = Date.now() + timeoutMs
    while (Date.now() < until) {
      if (check()) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`timed out waiting for ${what}:\n${output().slice(-3000)}`)
  })

describe("pipeline serve: two processes, one PostgreSQL state store", () => {
  it.live(
    "every due tick runs exactly once across both processes",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_serve_once")
          const portal = yield* Legacy.portal()
          const env = {
            PIPELINE_STATE_URL: state.url,
            PIPELINE_DIR: pipelines,
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "unlimited",
          }
          const a = Cli.start(["serve", "ticking"], env)
          const b = Cli.start(["serve", "ticking"], env)
          yield* Effect.addFinalizer(() => Effect.sync(() => [a, b].forEach((p) => p.child.kill("SIGKILL"))))
          const succeeded = (p: typeof a) => (p.output().match(/ticking: run succeeded/g) ?? []).length
          const skipped = (p: typeof a) => (p.output().match(/skipped: another process/g) ?? []).length
          // Both are serving once both have seen a tick (a run or a skip).
          yield* waitFor(
            "both processes to serve a tick",
            () => succeeded(a) + skipped(a) > 0 && succeeded(b) + skipped(b) > 0,
            () => a.output() + b.output(),
          )
          yield* waitFor(
            "six runs",
            () => succeeded(a) + succeeded(b) >= 6,
            () => a.output() + b.output(),
          )
          a.child.kill("SIGTERM")
          b.child.kill("SIGTERM")
          const [doneA, doneB] = yield* Effect.promise(() => Promise.all([a.done, b.done]))
          assert.strictEqual(doneA.code, 0, doneA.stdout + doneA.stderr)
          assert.strictEqual(doneB.code, 0, doneB.stdout + doneB.stderr)

          const runs = yield* state.query(
            "select id, status, extract(epoch from started_at) * 1000 as started_ms from runs where pipeline = 'ticking' order by started_at",
          )
          const slots = runs.map((r) => Math.floor(Number(r.started_ms) / TICK_MS))
          assert.strictEqual(new Set(slots).size, slots.length, `one run per tick: ${JSON.stringify(runs)}`)
          assert.isAtLeast(runs.length, 6)
          assert.isTrue(
            runs.every((r) => r.status === "succeeded"),
            JSON.stringify(runs),
          )
          assert.isAbove(skipped(a) + skipped(b), 0, "the other process saw each tick taken")
          // The five companies were created once, whatever process ran first.
          assert.strictEqual((yield* portal.items(4)).length, 5)
        }),
      ),
    300_000,
  )

  it.live(
    "killing the process that holds the lock lets the other take over at its next tick, not after the lease",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_serve_takeover")
          const portal = yield* Legacy.portal()
          const env = {
            PIPELINE_STATE_URL: state.url,
            PIPELINE_DIR: pipelines,
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "unlimited",
          }
          const lease = ["--lease-ms", "6000"]
          // The holder's runs hang in the middle (each record waits a minute).
          const holder = Cli.start(["serve", "ticking", ...lease], { ...env, TICKING_DELAY_MS: "60000" })
          yield* Effect.addFinalizer(() => Effect.sync(() => holder.child.kill("SIGKILL")))
          yield* waitFor(
            "the holder to start a run",
            () => holder.output().includes("run started"),
            holder.output,
          )
          const other = Cli.start(["serve", "ticking", ...lease], env)
          yield* Effect.addFinalizer(() => Effect.sync(() => other.child.kill("SIGKILL")))
          // While the holder lives, the other process skips every tick.
          yield* waitFor(
            "the other process to skip a tick",
            () => other.output().includes("skipped: another process is running it"),
            other.output,
          )
          // Kill the holder without a chance to release its lock.
          holder.child.kill("SIGKILL")
          yield* Effect.promise(() => holder.done)
          const killedAt = Date.now()
          yield* waitFor(
            "the other process to finish a run",
            () => /ticking: run succeeded/.test(other.output()),
            other.output,
          )
          const tookOverAfter = Date.now() - killedAt
          other.child.kill("SIGTERM")
          const done = yield* Effect.promise(() => other.done)
          assert.strictEqual(done.code, 0, done.stdout + done.stderr)
          // The holder ran on this host and its process is gone, so its lock is taken at once (the
          // 6 s lease need not run out): the next 3-second tick runs, with slack for a busy machine.
          assert.isBelow(tookOverAfter, 30_000, "the dead holder's lock was taken without waiting")
          assert.strictEqual((yield* portal.items(4)).length, 5)
        }),
      ),
    300_000,
  )
})
