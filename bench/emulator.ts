/**
 * How many `crm.item.batchImport` requests per second the emulator sustains with its limits off,
 * so the sink's benchmarks can show the emulator is not their bottleneck.
 *
 *   pnpm tsx bench/emulator.ts [--requests 3000] [--concurrency 8] [--items 20]
 *
 * The emulator runs in its own process (as `pnpm pipeline emulator` would), on loopback; this
 * process is the client. It stops by itself after the fixed number of requests.
 * Other benchmarks can `import { measureEmulator } from "./emulator.js"` and print the same figure.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { pathToFileURL } from "node:url"

export interface EmulatorThroughput {
  readonly requests: number
  readonly concurrency: number
  readonly itemsPerRequest: number
  readonly seconds: number
  readonly requestsPerSecond: number
  readonly itemsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Items the emulator holds at the end (warm-up included), as a check that every request landed. */
  readonly itemsStored: number
  readonly itemsExpected: number
}

const startEmulator = async () => {
  const main = path.join(import.meta.dirname, "..", "packages", "bitrix24-emulator", "src", "bin.ts")
  const child = spawn(
    process.execPath,
    ["--import", "tsx", main, "--burst", "0", "--operating-budget", "0"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  )
  const webhookUrl = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`emulator exited with ${code}`)))
    createInterface({ input: child.stdout }).once("line", (line) => resolve(line.replace(/^webhook: /, "")))
  })
  if (!webhookUrl.startsWith("http://127.0.0.1:")) {
    child.kill("SIGINT")
    throw new Error("the emulator must listen on loopback")
  }
  return { webhookUrl, stop: () => child.kill("SIGINT") }
}

/** Fires `requests` batchImports of `itemsPerRequest` companies from `concurrency` clients. */
export const measureEmulator = async (
  options: {
    readonly requests?: number
    readonly concurrency?: number
    readonly itemsPerRequest?: number
  } = {},
): Promise<EmulatorThroughput> => {
  const requests = Math.min(options.requests ?? 3000, 20_000)
  const concurrency = Math.min(options.concurrency ?? 8, 64)
  const itemsPerRequest = Math.min(options.itemsPerRequest ?? 20, 20)
  const warmup = Math.min(100, Math.floor(requests / 10))
  const { webhookUrl, stop } = await startEmulator()
  try {
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
      const body = (await response.json()) as { result?: { items: Array<unknown> } }
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
    await run(warmup)
    const started = performance.now()
    const latencies = await run(requests)
    const seconds = (performance.now() - started) / 1000
    latencies.sort((a, b) => a - b)
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!
    const list = await fetch(`${webhookUrl}crm.item.list`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ entityTypeId: 4, select: ["id"] }),
    })
    return {
      requests,
      concurrency,
      itemsPerRequest,
      seconds,
      requestsPerSecond: requests / seconds,
      itemsPerSecond: (requests * itemsPerRequest) / seconds,
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      itemsStored: ((await list.json()) as { total: number }).total,
      itemsExpected: (warmup + requests) * itemsPerRequest,
    }
  } finally {
    stop()
  }
}

const arg = (name: string): number | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  const value = i < 0 ? undefined : Number(process.argv[i + 1])
  return value !== undefined && Number.isFinite(value) && value > 0 ? Math.floor(value) : undefined
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const requests = arg("requests")
  const concurrency = arg("concurrency")
  const itemsPerRequest = arg("items")
  const r = await measureEmulator({
    ...(requests === undefined ? {} : { requests }),
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(itemsPerRequest === undefined ? {} : { itemsPerRequest }),
  })
  console.log(
    `emulator batchImport, limits off: ${r.requests} requests x ${r.itemsPerRequest} items, ${r.concurrency} clients`,
  )
  console.log(`  requests/s: ${r.requestsPerSecond.toFixed(0)}`)
  console.log(`  items/s:    ${r.itemsPerSecond.toFixed(0)}`)
  console.log(`  latency ms: p50 ${r.p50Ms.toFixed(1)}, p99 ${r.p99Ms.toFixed(1)}`)
  console.log(`  items stored: ${r.itemsStored} (expected ${r.itemsExpected})`)
  console.log(`  headroom over the portal ceiling of 2 requests/s: ${(r.requestsPerSecond / 2).toFixed(0)}x`)
  if (r.itemsStored !== r.itemsExpected) process.exitCode = 1
}
