import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as DirectoryLock from "../src/internal/state/directoryLock.js"

/** The embedded store's directory lock, without starting PGlite. */

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "b24etl-state-lock-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true })),
)

/** A pid that no process has: above Linux's largest (2^22). */
const deadPid = 4_194_304 + 17

describe("StateStore (PGlite) directory lock", () => {
  it.scoped("one holder at a time; released on close", () =>
    Effect.gen(function* () {
      const dir = join(yield* tempDir, "state")
      const first = yield* Effect.promise(() => DirectoryLock.take(dir))
      const holder = JSON.parse(yield* Effect.promise(() => readFile(`${dir}.lock`, "utf8")))
      assert.deepStrictEqual(holder, { host: hostname(), pid: process.pid })
      const refused = yield* Effect.flip(Effect.tryPromise(() => DirectoryLock.take(dir)))
      assert.include(String(refused.error), `is open in process ${process.pid} (this one)`)
      yield* Effect.promise(() => first.release())
      const second = yield* Effect.promise(() => DirectoryLock.take(dir))
      yield* Effect.promise(() => second.release())
    }),
  )

  it.scoped("a lock left by a process that died is taken over", () =>
    Effect.gen(function* () {
      const dir = join(yield* tempDir, "state")
      yield* Effect.promise(() =>
        writeFile(`${dir}.lock`, JSON.stringify({ host: hostname(), pid: deadPid })),
      )
      const lock = yield* Effect.promise(() => DirectoryLock.take(dir))
      const holder = JSON.parse(yield* Effect.promise(() => readFile(`${dir}.lock`, "utf8")))
      assert.strictEqual(holder.pid, process.pid)
      yield* Effect.promise(() => lock.release())
    }),
  )

  it.scoped("a lock held by a live process, or on another host, is refused", () =>
    Effect.gen(function* () {
      const dir = join(yield* tempDir, "state")
      // pid 1 always runs.
      yield* Effect.promise(() => writeFile(`${dir}.lock`, JSON.stringify({ host: hostname(), pid: 1 })))
      const live = yield* Effect.flip(Effect.tryPromise(() => DirectoryLock.take(dir)))
      assert.include(String(live.error), "is open in process 1;")
      yield* Effect.promise(() =>
        writeFile(`${dir}.lock`, JSON.stringify({ host: "elsewhere", pid: deadPid })),
      )
      const remote = yield* Effect.flip(Effect.tryPromise(() => DirectoryLock.take(dir)))
      assert.include(String(remote.error), `on elsewhere; if that process is gone, delete ${dir}.lock`)
    }),
  )
})
