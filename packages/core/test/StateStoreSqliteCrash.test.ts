import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as StateStoreSql from "../src/StateStoreSql.js"

/**
 * Embedded SQLite after a `kill -9`: a committed id-map row is still there (WAL with
 * `synchronous = full`), and the locks the killed process left (the directory lock and SQLite's
 * own lock directory beside the file) do not keep the next opening out.
 */

const here = dirname(fileURLToPath(import.meta.url))
// tsx as a loader in the one process: its CLI would run a second process, which SIGKILL leaves alive.
const tsx = pathToFileURL(join(here, "../../../node_modules/tsx/dist/loader.mjs")).href

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "b24etl-sqlite-crash-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true })),
)

/** Runs the child until it has committed, then kills it with SIGKILL. */
const commitThenKill = (directory: string) =>
  Effect.promise(
    () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ["--import", tsx, join(here, "fixtures/sqliteCommitThenWait.ts"), directory],
          {
            stdio: ["ignore", "pipe", "pipe"],
          },
        )
        let out = ""
        let err = ""
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString()
          if (out.includes("committed")) child.kill("SIGKILL")
        })
        child.stderr.on("data", (d: Buffer) => {
          err += d.toString()
        })
        child.on("close", (_code, signal) =>
          signal === "SIGKILL"
            ? resolve()
            : reject(new Error(`the child ended without being killed:\n${out}\n${err}`)),
        )
      }),
  )

describe("StateStore (SQLite) after kill -9", () => {
  it.scoped(
    "a committed row survives; the killed process's locks do not block the next opening",
    () =>
      Effect.gen(function* () {
        const dir = join(yield* tempDir, "state")
        yield* commitThenKill(dir)
        const file = join(dir, StateStoreSql.sqliteFile)
        // What the killed process left: its directory lock, SQLite's lock, and the commit in the WAL.
        assert.isTrue(existsSync(`${dir}.lock`), "directory lock left behind")
        assert.isTrue(existsSync(`${file}.lock`), "SQLite's lock left behind")
        assert.isTrue(existsSync(`${file}-wal`), "the WAL, not yet checkpointed")

        const store = yield* StateStoreSql.makeFromUrl(dir, {})
        assert.strictEqual(store.dialect, "sqlite")
        const found = yield* store.lookup("crash", "company", ["c-1", "c-2"])
        assert.strictEqual(found.get("c-1")?.status, "created")
        assert.strictEqual(found.get("c-1")?.targetId, "501")
        // The key that was only pending is still pending: the next run checks it in the portal.
        assert.strictEqual(found.get("c-2")?.status, "pending")
        assert.deepStrictEqual(yield* store.checkpoint("crash", "company"), Option.some({ id: 1 }))
      }),
    60_000,
  )
})
