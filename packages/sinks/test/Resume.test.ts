/**
 * Kill -9 in the middle of a migration, several times, then resume: the portal ends with every
 * record exactly once. The migration runs in child processes; the portal (the emulator) and the
 * state (a PostgreSQL database, or the embedded default's directory) outlive them.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, type Scope } from "effect"
import * as StateDrivers from "../../core/test/fixtures/StateDrivers.js"
import type * as Legacy from "./fixtures/legacy.js"
import { portal } from "./support.js"

const here = dirname(fileURLToPath(import.meta.url))
// tsx as a loader in the one process: its CLI runs the script in a second process, which a SIGKILL
// of the first leaves running (holding the embedded directory's lock).
const tsx = pathToFileURL(join(here, "../../../node_modules/tsx/dist/loader.mjs")).href
const child = join(here, "fixtures/migrate-child.ts")

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly output: string
}

const start = (env: Record<string, string>): { proc: ChildProcess; exit: Promise<Exit> } => {
  const proc = spawn(process.execPath, ["--import", tsx, child], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  proc.stdout?.on("data", (d) => {
    output += String(d)
  })
  proc.stderr?.on("data", (d) => {
    output += String(d)
  })
  const exit = new Promise<Exit>((resolve) =>
    proc.on("exit", (code, signal) => resolve({ code, signal, output })),
  )
  return { proc, exit }
}

/** The child's state: a fresh PostgreSQL database, or a new embedded directory (SQLite). */
const postgresState = Effect.map(StateDrivers.postgresDatabase("b24etl_sinks_resume"), (db) => ({
  B24_STATE_URL: db.url,
}))
const embeddedState = Effect.map(
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "b24etl-resume-"))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true })),
  ),
  (dir) => ({ B24_STATE_DIR: join(dir, "state") }),
)

const killedTwelveTimes = (stateEnv: Effect.Effect<Record<string, string>, never, Scope.Scope>) =>
  Effect.gen(function* () {
    const sizes: Legacy.Sizes = { companies: 300, contacts: 900, deals: 600 }
    const total = sizes.companies + sizes.contacts + sizes.deals
    const emulator = yield* portal({ rateLimit: { burst: 0 }, latencyMs: 15 })
    const env = {
      B24_WEBHOOK_URL: emulator.webhookUrl,
      ...(yield* stateEnv),
      B24_SIZES: JSON.stringify(sizes),
    }
    const created = Effect.map(emulator.counters, (c) =>
      Object.values(c.itemsByType).reduce((a, b) => a + b, 0),
    )
    const kills: Array<number> = []
    // Twelve kill points, random but reproducible (a seeded generator), spread over the run.
    let seed = 20261125
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    const points = Array.from(
      { length: 12 },
      (_, i) => Math.floor(((i + random()) / 12) * (total - 100)) + 50,
    )
    for (const at of points) {
      // The killed run's lock lease (1 s) runs out before the next run may start.
      yield* Effect.sleep(Duration.millis(1_200))
      const run = start(env)
      yield* Effect.addFinalizer(() => Effect.sync(() => run.proc.kill("SIGKILL")))
      // Wait until the portal holds `at` items (or the run ends first), then kill -9.
      const ended = yield* Effect.gen(function* () {
        for (;;) {
          if (run.proc.exitCode !== null) return true
          if ((yield* created) >= at) return false
          yield* Effect.sleep(Duration.millis(5))
        }
      }).pipe(Effect.timeout("120 seconds"))
      if (!ended) {
        run.proc.kill("SIGKILL")
        kills.push(yield* created)
      }
      const exit = yield* Effect.promise(() => run.exit)
      if (!ended) assert.strictEqual(exit.signal, "SIGKILL", exit.output)
    }
    assert.isAtLeast(kills.length, 10, `killed at ${kills.join(", ")}`)
    // (A kill may land after the portal created the last items but before the run committed them.)
    let final: Exit | undefined
    for (let attempt = 0; attempt < 10; attempt++) {
      yield* Effect.sleep(Duration.millis(1_200))
      final = yield* Effect.promise(() => start(env).exit)
      if (final.code === 0) break
    }
    assert.strictEqual(final?.code, 0, final?.output)
    assert.strictEqual(yield* created, total)
    const check = (type: number, n: number) =>
      Effect.map(emulator.items(type), (items) => {
        const origins = items.map((i) => String(i.originId))
        assert.strictEqual(new Set(origins).size, items.length, "duplicates in the portal")
        assert.strictEqual(items.length, n)
      })
    yield* check(4, sizes.companies)
    yield* check(3, sizes.contacts)
    yield* check(2, sizes.deals)
    // With packing on (the sink's default): the imports went as `batch` requests of
    // `crm.item.batchImport` commands, and none as a plain request.
    const counters = yield* emulator.counters
    assert.isAbove(counters.byCommand["crm.item.batchImport"] ?? 0, 0, JSON.stringify(counters.byMethod))
    assert.strictEqual(counters.byMethod["crm.item.batchImport"] ?? 0, 0, JSON.stringify(counters.byMethod))
  })

describe("resume", () => {
  it.scopedLive(
    "SIGKILL at twelve random points of a migration, resuming each time: every record once, none twice",
    () => killedTwelveTimes(postgresState),
    600_000,
  )

  it.scopedLive(
    "the same on the embedded default (SQLite): committed rows survive each kill, stale locks are taken over",
    () => killedTwelveTimes(embeddedState),
    600_000,
  )
})
