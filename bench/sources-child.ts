/**
 * One configuration of `bench/sources.ts`, in its own process so peak memory is its own:
 *
 *   node --import tsx --expose-gc bench/sources-child.ts <postgres|mysql> <source|driver> <rows> <url> <chunkSize> [gc]
 *
 * Reads the first <rows> rows of `bench_rows` in key order, touching every row, and prints one
 * JSON line: { rows, seconds, peakRssMb, peakHeapMb, baseRssMb }. Memory is sampled every 10 ms
 * and at every chunk. With `gc`, a full collection runs every 25,000 rows before sampling, so
 * the peaks are of live memory rather than of garbage V8 has not collected yet (a throughput
 * run leaves GC alone).
 */

import * as Mysql from "@b24etl/connectors/Mysql"
import * as Postgres from "@b24etl/connectors/Postgres"
import type * as SqlSpec from "@b24etl/connectors/SqlSpec"
import type * as Source from "@b24etl/core/Source"
import { Effect, Stream } from "effect"
import { sql } from "kysely"
import { createConnection } from "mysql2"
import { pg } from "./sources-pg.js"

const [engine, mode, rowsText, url, chunkText, gcFlag] = process.argv.slice(2)
const forceGc = gcFlag === "gc"
const rows = Number(rowsText)
const chunkSize = Number(chunkText)

const gc = (globalThis as { gc?: () => void }).gc
gc?.()
const base = process.memoryUsage()
let peakRss = base.rss
let peakHeap = base.heapUsed
const sample = () => {
  const m = process.memoryUsage()
  if (m.rss > peakRss) peakRss = m.rss
  if (m.heapUsed > peakHeap) peakHeap = m.heapUsed
}
const sampler = setInterval(sample, 10)
let sinceGc = 0
/** Counts rows read; in `gc` runs, collects every 25,000 rows and samples live memory. */
const seen = (count: number) => {
  sinceGc += count
  if (forceGc && sinceGc >= 25_000) {
    sinceGc = 0
    gc?.()
  }
  sample()
}

/** Keeps the JIT from dropping the reads. */
let checksum = 0

const viaSource = async (): Promise<number> => {
  const legacy =
    engine === "postgres" ? Postgres.source({ url: url!, chunkSize }) : Mysql.source({ url: url!, chunkSize })
  const stream = legacy.table("bench_rows", { key: "id", where: sql`id <= ${rows}` })
  return Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const connection = yield* legacy.connect
        let n = 0
        // Touches every record in `mapChunks` and drains, the way a pipeline's transform stage
        // sees chunks. Not `Stream.runForEachChunk`: with effect 3.22 its sink keeps each chunk
        // alive long enough for V8 to promote every row to the old generation, which halves
        // the throughput of any stream, this one or not (measured: 0.55 instead of 0.9).
        yield* connection.read(stream.spec as SqlSpec.Spec, {}).pipe(
          Stream.mapChunks((chunk) => {
            for (const record of chunk as Iterable<Source.SourceRecord>) {
              checksum += record.key.length + (record.data.name as string).length
              n++
            }
            seen(chunk.length)
            return chunk
          }),
          Stream.runDrain,
        )
        return n
      }),
    ),
  )
}

const query = `SELECT * FROM bench_rows WHERE id <= ${rows} ORDER BY id`

const viaPg = async (): Promise<number> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  let n = 0
  await new Promise<void>((resolve, reject) => {
    const q = client.query(new pg.Query(query))
    q.on("row", (row: Record<string, unknown>) => {
      checksum += String(row.id).length + (row.name as string).length
      if (++n % 1000 === 0) seen(1000)
    })
    q.on("end", () => resolve())
    q.on("error", reject)
  })
  await client.end()
  return n
}

const viaMysql = async (): Promise<number> => {
  const connection = createConnection({ uri: url!, supportBigNumbers: true, bigNumberStrings: true })
  let n = 0
  for await (const row of connection.query(query).stream() as AsyncIterable<Record<string, unknown>>) {
    checksum += String(row.id).length + (row.name as string).length
    if (++n % 1000 === 0) seen(1000)
  }
  await new Promise<void>((resolve) => connection.end(() => resolve()))
  return n
}

const start = performance.now()
const n = await (mode === "source" ? viaSource() : engine === "postgres" ? viaPg() : viaMysql())
const seconds = (performance.now() - start) / 1000
sample()
clearInterval(sampler)
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10
process.stdout.write(
  `${JSON.stringify({ rows: n, seconds, peakRssMb: mb(peakRss), peakHeapMb: mb(peakHeap), baseRssMb: mb(base.rss), checksum: checksum > 0 })}\n`,
)
