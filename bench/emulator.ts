/**
 * How many `crm.item.batchImport` requests per second the emulator sustains with its limits off,
 * so the sink's benchmarks can show the emulator is not their bottleneck.
 *
 *   pnpm tsx bench/emulator.ts [--requests 3000] [--concurrency 8] [--items 20]
 *
 * The emulator runs in its own process (as `pnpm pipeline emulator` would), on loopback; this
 * process is the client. It stops by itself after the fixed number of requests.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  const value = i < 0 ? undefined : Number(process.argv[i + 1])
  return value !== undefined && Number.isFinite(value) && value > 0 ? Math.floor(value) : fallback
}

const requests = Math.min(arg("requests", 3000), 20_000)
const concurrency = Math.min(arg("concurrency", 8), 64)
const itemsPerRequest = Math.min(arg("items", 20), 20)
const warmup = Math.min(100, Math.floor(requests / 10))

const main = path.join(import.meta.dirname, "..", "packages", "bitrix24-emulator", "src", "main.ts")
const child = spawn(process.execPath, ["--import", "tsx", main, "--burst", "0", "--operating-budget", "0"], {
  stdio: ["ignore", "pipe", "inherit"],
})

const webhookUrl = await new Promise<string>((resolve, reject) => {
  child.once("exit", (code) => reject(new Error(`emulator exited with ${code}`)))
  createInterface({ input: child.stdout }).once("line", (line) => resolve(line.replace(/^webhook: /, "")))
})
if (!webhookUrl.startsWith("http://127.0.0.1:")) throw new Error("the emulator must listen on loopback")

let sequence = 0
const importBatch = async (): Promise<number> => {
  const n = sequence++
  const data = Array.from({ length: itemsPerRequest }, (_, i) => ({
    title: `Company ${n}-${i}`,
    originatorId: "bench",
    originId: `c:${n}:${i}`,
    PHONE: [{ VALUE: `+1 555 ${n}${i}`, VALUE_TYPE: "WORK" }],
  }))
  const started = performance.now()
  const response = await fetch(`${webhookUrl}crm.item.batchImport`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ entityTypeId: 4, data }),
  })
  const body = (await response.json()) as { result?: { items: Array<{ item?: unknown }> } }
  if (response.status !== 200 || body.result?.items.length !== itemsPerRequest) {
    throw new Error(`unexpected answer ${response.status}`)
  }
  return performance.now() - started
}

const run = async (count: number): Promise<Array<number>> => {
  const latencies: Array<number> = []
  let remaining = count
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (remaining > 0) {
        remaining--
        latencies.push(await importBatch())
      }
    }),
  )
  return latencies
}

try {
  await run(warmup)
  const started = performance.now()
  const latencies = await run(requests)
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1)
  const list = await fetch(`${webhookUrl}crm.item.list`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ entityTypeId: 4, select: ["id"] }),
  })
  const stored = ((await list.json()) as { total: number }).total
  const expected = (warmup + requests) * itemsPerRequest
  console.log(
    `emulator batchImport, limits off: ${requests} requests x ${itemsPerRequest} items, ${concurrency} clients`,
  )
  console.log(`  requests/s: ${(requests / seconds).toFixed(0)}`)
  console.log(`  items/s:    ${((requests * itemsPerRequest) / seconds).toFixed(0)}`)
  console.log(`  latency ms: p50 ${pct(0.5)}, p99 ${pct(0.99)}`)
  console.log(`  items stored: ${stored} (expected ${expected})`)
  console.log(`  vs the portal ceiling of 2 requests/s: ${(requests / seconds / 2).toFixed(0)}x headroom`)
  if (stored !== expected) process.exitCode = 1
} finally {
  child.kill("SIGINT")
}
