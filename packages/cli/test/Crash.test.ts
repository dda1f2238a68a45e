import { existsSync } from "node:fs"
import { join } from "node:path"
import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import pg from "pg"
import { project } from "./fixtures/Cli.js"
import * as Pipelines from "./fixtures/pipelines.js"

const COMPANY = 4
const TOTAL = 3_000
const POSTGRES = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const DATABASE = "b24etl_cli_crash"

/** A fresh PostgreSQL database for the scope, dropped when it closes. */
const postgresState = (DATABASE: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const admin = new pg.Client({ connectionString: POSTGRES })
      await admin.connect()
      try {
        await admin.query(`drop database if exists ${DATABASE} with (force)`)
        await admin.query(`create database ${DATABASE}`)
      } finally {
        await admin.end()
      }
      const url = new URL(POSTGRES)
      url.pathname = `/${DATABASE}`
      return url.toString()
    }),
    () =>
      Effect.promise(async () => {
        const admin = new pg.Client({ connectionString: POSTGRES })
        await admin.connect()
        await admin.query(`drop database if exists ${DATABASE} with (force)`).finally(() => admin.end())
      }),
  )

/**
 * A run killed with SIGKILL (as by the OOM killer or a closed lid) holds its pipeline's lock and,
 * on the embedded store, the directory lock. Both name a process of this host that no longer
 * exists, so the next run takes them at once, closes the killed run as `crashed` ending at its
 * last lock renewal, and resumes.
 */
const killedThenResumed = (state: Effect.Effect<string | undefined, never, import("effect").Scope.Scope>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const stateUrl = yield* state
      const portal = yield* Emulator.make({ rateLimit: { burst: 0 }, latencyMs: 200 })
      const p = project()
      p.writePipeline("portal.ts", Pipelines.portal)
      const env = {
        BITRIX24_WEBHOOK_URL: portal.webhookUrl,
        BITRIX24_RATE: "unlimited",
        // Plain imports: packed ones would finish the run before it can be killed.
        BITRIX24_PACKING: "off",
        BITRIX24_CONCURRENCY: "2",
        ...(stateUrl === undefined ? {} : { PIPELINE_STATE_URL: stateUrl }),
      }
      const marker = join(p.dir, "reading")
      let killedAt = 0
      let readingSince = 0
      const killed = yield* Effect.promise(() =>
        p.cli(["run", "portal"], {
          env,
          onSpawn: (pid) => {
            const poll = setInterval(() => {
              if (readingSince === 0 && existsSync(marker)) readingSince = Date.now()
              // Past the first lock renewal (5 s after taking it) and with batches written.
              if (
                readingSince > 0 &&
                Date.now() - readingSince > 6_000 &&
                portal.store.items(COMPANY).length >= 100
              ) {
                clearInterval(poll)
                killedAt = Date.now()
                process.kill(pid, "SIGKILL")
              }
            }, 20)
          },
        }),
      )
      assert.strictEqual(killed.signal, "SIGKILL", `${killed.stdout}\n${killed.stderr}`)
      const before = portal.store.items(COMPANY).length
      assert.isBelow(before, TOTAL)

      // How long a command takes to start and open the state on this (possibly busy) machine.
      const opening = Date.now()
      const before_ = yield* Effect.promise(() => p.cli(["status", "portal", "--json"], { env }))
      const startup = Date.now() - opening
      // Before the next run closes it, status already shows the killed run as crashed, lasting
      // until its last heartbeat (lock renewals every 5 s), not as `running`.
      const [killedRun] = JSON.parse(before_.stdout).runs as ReadonlyArray<{
        status: string
        startedAt: string
        finishedAt: string | null
        unclosed: boolean
      }>
      assert.strictEqual(killedRun!.status, "crashed", before_.stdout + before_.stderr)
      assert.isTrue(killedRun!.unclosed)
      const seen = Date.parse(killedRun!.finishedAt!) - Date.parse(killedRun!.startedAt)
      assert.isAtMost(seen, killedAt - Date.parse(killedRun!.startedAt) + 1_000, before_.stdout)
      assert.isAtLeast(seen, killedAt - Date.parse(killedRun!.startedAt) - 6_000, before_.stdout)
      // The next run, at once: no lock error, and its run starts (lock taken) within 5 s of that.
      const again = Date.now()
      const resumed = yield* Effect.promise(() => p.cli(["run", "portal"], { env }))
      const output = `${resumed.stdout}\n${resumed.stderr}`
      assert.strictEqual(resumed.code, 0, output)
      assert.notInclude(output, "another process", output)
      assert.notInclude(output, "is open in process", output)
      assert.include(output, "an earlier run stopped without finishing", output)
      // Exactly once: the killed run's batches in flight were found again, not created twice.
      assert.strictEqual(portal.store.items(COMPANY).length, TOTAL)

      const status = yield* Effect.promise(() => p.cli(["status", "portal", "--json"], { env }))
      const runs = JSON.parse(status.stdout).runs as ReadonlyArray<{
        status: string
        startedAt: string
        finishedAt: string
      }>
      assert.deepStrictEqual(
        runs.map((r) => r.status),
        ["succeeded", "crashed"],
      )
      // Its real duration: up to its last heartbeat (renewals every 5 s), not until the next run.
      assert.isBelow(Date.parse(runs[0]!.startedAt) - again, startup + 5_000, JSON.stringify(runs))
      const crashed = runs[1]!
      const lasted = Date.parse(crashed.finishedAt) - Date.parse(crashed.startedAt)
      const alive = killedAt - Date.parse(crashed.startedAt)
      assert.isAtMost(lasted, alive + 1_000, JSON.stringify(crashed))
      assert.isAtLeast(lasted, alive - 6_000, JSON.stringify(crashed))
      const text = yield* Effect.promise(() => p.cli(["status", "portal"], { env }))
      assert.match(text.stdout, /crashed/)
    }),
  )

describe("a run killed with SIGKILL (child process, Bitrix24 emulator)", () => {
  it.live(
    "embedded state: the next run started at once resumes within 5 s",
    () => killedThenResumed(Effect.succeed(undefined)),
    360_000,
  )

  it.live(
    "PostgreSQL state: the next run started at once resumes within 5 s",
    () => killedThenResumed(postgresState(DATABASE)),
    360_000,
  )

  it.live(
    "a lock held on another host: one message with when it frees; `unlock` asks, `--yes` frees it",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const url = yield* postgresState("b24etl_cli_unlock")
          const portal = yield* Emulator.make({ rateLimit: { burst: 0 } })
          const p = project()
          p.writePipeline("portal.ts", Pipelines.portal)
          const env = {
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "unlimited",
            // Plain imports: packed ones would finish the run before it can be killed.
            BITRIX24_PACKING: "off",
            PIPELINE_STATE_URL: url,
          }
          // Opening the state creates its tables; then a run on another machine holds the lock.
          assert.strictEqual((yield* Effect.promise(() => p.cli(["status", "portal"], { env }))).code, 0)
          yield* Effect.promise(async () => {
            const client = new pg.Client({ connectionString: url })
            await client.connect()
            await client
              .query(
                "insert into locks (name, owner, acquired_at, expires_at) values ('pipeline:portal', 'farhost:4242:abc', now() at time zone 'utc', now() at time zone 'utc' + interval '1 hour')",
              )
              .finally(() => client.end())
          })
          const refused = yield* Effect.promise(() => p.cli(["run", "portal"], { env }))
          assert.strictEqual(refused.code, 1, refused.stderr)
          assert.match(
            refused.stderr,
            /another process is running pipeline "portal" \(lock "pipeline:portal" is held by process 4242 on host farhost until \S+Z unless it renews it\)\. Wait for it to finish; if you know it died, its lock frees itself at \S+Z, or `pipeline unlock portal` frees it now/,
          )
          assert.strictEqual(refused.stderr.split("Wait for it").length, 2, refused.stderr)
          assert.strictEqual(portal.store.items(COMPANY).length, 0)

          // Not a terminal, no --yes: nothing is freed.
          const asked = yield* Effect.promise(() => p.cli(["unlock", "portal"], { env }))
          assert.strictEqual(asked.code, 1, asked.stderr)
          assert.include(asked.stderr, 'Pipeline "portal" is locked by process 4242 on host farhost')
          assert.include(asked.stderr, "not unlocked: run `pipeline unlock portal --yes`")
          const freed = yield* Effect.promise(() => p.cli(["unlock", "portal", "--yes"], { env }))
          assert.strictEqual(freed.code, 0, freed.stderr)
          assert.include(freed.stdout, 'Unlocked pipeline "portal"')
          const again = yield* Effect.promise(() => p.cli(["unlock", "portal", "--yes"], { env }))
          assert.include(again.stdout, 'Pipeline "portal" is not locked')
          const run = yield* Effect.promise(() => p.cli(["run", "portal"], { env }))
          assert.strictEqual(run.code, 0, run.stderr)
          assert.strictEqual(portal.store.items(COMPANY).length, TOTAL)
        }),
      ),
    360_000,
  )
})
