/**
 * The command line: the first line printed is the webhook URL, the flags are parsed, the server
 * answers, and an interrupt stops it. Also the store's persistence across restarts.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Scope } from "effect"
import * as Emulator from "../src/Emulator.js"
import * as Serve from "../src/Serve.js"
import { post } from "./support.js"

describe("Serve.parseArgs", () => {
  it("reads every flag", () => {
    const parsed = Serve.parseArgs([
      "--port",
      "8123",
      "--rate",
      "5",
      "--burst=250",
      "--latency-ms",
      "200",
      "--faults",
      "500=0.01,resetAfter=0.02",
      "--seed",
      "9",
      "--https",
      "--persist",
      ".pipeline/emulator.json",
    ])
    assert.deepStrictEqual(Either.getOrThrow(parsed), {
      port: 8123,
      latencyMs: 200,
      faults: { error500: 0.01, resetAfterCommit: 0.02 },
      seed: 9,
      https: true,
      persistPath: ".pipeline/emulator.json",
      rateLimit: { rate: 5, burst: 250 },
    })
    assert.isTrue(Either.isLeft(Serve.parseArgs(["--port", "x"])))
    assert.isTrue(Either.isLeft(Serve.parseArgs(["--faults", "nope=1"])))
    assert.isTrue(Either.isLeft(Serve.parseArgs(["--what"])))
  })
})

describe("the emulator process", () => {
  it("prints `webhook: <url>` first, serves, and stops on SIGINT", async () => {
    const main = path.join(import.meta.dirname, "..", "src", "bin.ts")
    const child = spawn(process.execPath, ["--import", "tsx", main, "--burst", "0", "--seed", "3"], {
      stdio: ["ignore", "pipe", "inherit"],
    })
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    try {
      const lines = createInterface({ input: child.stdout })
      const first = await new Promise<string>((resolve) => lines.once("line", resolve))
      assert.match(first, /^webhook: http:\/\/127\.0\.0\.1:\d+\/rest\/1\/[0-9a-f]+\/$/)
      const webhookUrl = first.slice("webhook: ".length)
      const answer = await Effect.runPromise(
        post(`${webhookUrl}crm.item.batchImport`, { entityTypeId: 4, data: [{ title: "Acme" }] }),
      )
      assert.deepStrictEqual(answer.body.result, { items: [{ item: { id: 1 } }] })
    } finally {
      child.kill("SIGINT")
    }
    const code = await exited
    assert.notStrictEqual(code, 2)
  })
})

describe("persistence", () => {
  it("loads the snapshot at start and writes it atomically after each change", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "b24-emulator-"))
    const file = path.join(dir, "nested", "store.json")
    const start = async () => {
      const scope = Effect.runSync(Scope.make())
      const emulator = await Effect.runPromise(
        Emulator.make({ persistPath: file, rateLimit: { burst: 0 } }).pipe(Scope.extend(scope)),
      )
      return { emulator, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
    }
    const first = await start()
    await Effect.runPromise(
      post(`${first.emulator.webhookUrl}crm.item.batchImport`, {
        entityTypeId: 4,
        data: [{ title: "A", originId: "c:1" }, { title: "B" }],
      }),
    )
    const written = JSON.parse(fs.readFileSync(file, "utf8"))
    assert.strictEqual(
      written.tables.find((t: { entityTypeId: number }) => t.entityTypeId === 4).items.length,
      2,
    )
    assert.deepStrictEqual(
      fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith(".tmp")),
      [],
    )
    await first.close()

    const second = await start()
    try {
      assert.strictEqual(
        second.emulator.webhookUrl.split("/").at(-2),
        first.emulator.webhookUrl.split("/").at(-2),
      )
      const listed = await Effect.runPromise(
        post(`${second.emulator.webhookUrl}crm.item.list`, {
          entityTypeId: 4,
          filter: { "@originId": ["c:1"] },
        }),
      )
      assert.strictEqual(listed.body.result.items[0].title, "A")
      const next = await Effect.runPromise(
        post(`${second.emulator.webhookUrl}crm.item.import`, { entityTypeId: 4, fields: { title: "C" } }),
      )
      assert.deepStrictEqual(next.body.result, { item: { id: 3 } })
    } finally {
      await second.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("the layer's scope", () => {
  it("closes the server when the scope closes", async () => {
    const scope = Effect.runSync(Scope.make())
    const emulator = await Effect.runPromise(Emulator.make({}).pipe(Scope.extend(scope)))
    const answer = await Effect.runPromise(post(`${emulator.webhookUrl}profile`))
    assert.strictEqual(answer.status, 200)
    await Effect.runPromise(Scope.close(scope, Exit.void))
    const refused = await fetch(`${emulator.webhookUrl}profile`, { method: "POST" }).then(
      () => "answered",
      (e: unknown) => String((e as { cause?: { code?: string } }).cause?.code),
    )
    assert.strictEqual(refused, "ECONNREFUSED")
  })
})
