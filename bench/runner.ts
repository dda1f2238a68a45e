/**
 * The runner's own throughput, between source and sink: is it a bottleneck for large tables?
 *
 *   pnpm tsx bench/runner.ts [--rows 200000] [--repeat 3] [--profile] [--keep]
 *
 * A one-entity pipeline reads `--rows` rows from the Memory source and writes them to an
 * in-memory sink that answers at once (`runner-sink.ts`: Bitrix24's batch size 20 and
 * concurrency 4, no network), with the state store on the local PostgreSQL in its own database
 * (`b24etl_bench_runner`, dropped at the end unless `--keep`). Printed, in records/s:
 *
 * 1. the first run (every record created: mapping, hashing, id-map lookups, `pending` marks and
 *    commits of 20-record batches);
 * 2. a second run with nothing changed (every record unchanged: what a scheduled sync without a
 *    cursor does every tick; no sink call at all);
 * 3. baselines measured in the same run: (a) draining the same Memory source stream through
 *    `connection.read` (best of `--repeat`), (b) the state store's own cost for the second run,
 *    `store.lookup` of all keys in chunks of 500, one after another;
 *
 * and the ratios runner / baseline, with the GC pauses (scavenges and mark-compacts) of each,
 * then the second run's time per record split into source + lookup + the runner's own.
 * The second run and (b) are measured twice: once as the first run leaves `id_map` (with the
 * statistics the store's own analyses gave it as it grew; without them PostgreSQL scanned
 * `id_map_status_idx` for every lookup, ~25 times slower at 200,000 rows), and, best of
 * `--repeat`, after a full `ANALYZE id_map`.
 * Every measurement runs in its own child process (`runner-child.ts`), so each starts from a
 * fresh heap; rows are generated before the clock starts. With `--profile`, one more second run
 * goes under V8's CPU profiler (the timed part only, positions mapped back to the TypeScript
 * through tsx's source maps) and the top functions and packages by self time are printed.
 * 200,000 rows take about two minutes.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { pg } from "./sources-pg.js"

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "200000" },
    repeat: { type: "string", default: "3" },
    profile: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
})
const ROWS = Number(values.rows)
const REPEAT = Math.max(1, Number(values.repeat))
const DATABASE = "b24etl_bench_runner"
const PIPELINE = "bench-runner"
const pgUrl = (db: string) => `postgres://postgres@127.0.0.1:5432/${db}`

/** Runs `f` with a client on database `db` (raw SQL: setup, `ANALYZE`, teardown). */
const withClient = async <A>(
  db: string,
  f: (query: (sql: string) => Promise<unknown>) => Promise<A>,
): Promise<A> => {
  const client = new pg.Client({ connectionString: pgUrl(db) }) as unknown as {
    connect(): Promise<void>
    query(sql: string): Promise<unknown>
    end(): Promise<void>
  }
  await client.connect()
  try {
    return await f((sql) => client.query(sql))
  } finally {
    await client.end()
  }
}
const admin = <A>(f: (query: (sql: string) => Promise<unknown>) => Promise<A>) => withClient("postgres", f)
const dropDatabase = () => admin((q) => q(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`))

interface Measure {
  readonly rows: number
  readonly seconds: number
  readonly counters: Readonly<Record<string, number>>
  readonly gc: {
    readonly minorMs: number
    readonly majorMs: number
    readonly minor: number
    readonly major: number
  }
  readonly peakRssMb: number
}

const child = (
  mode: string,
  nodeArgs: ReadonlyArray<string> = [],
  env: Readonly<Record<string, string>> = {},
): Promise<Measure> =>
  new Promise((resolve, reject) => {
    const script = path.join(import.meta.dirname, "runner-child.ts")
    const proc = spawn(
      process.execPath,
      [...nodeArgs, "--import", "tsx", script, mode, String(ROWS), pgUrl(DATABASE), PIPELINE],
      { stdio: ["ignore", "pipe", "inherit"], cwd: import.meta.dirname, env: { ...process.env, ...env } },
    )
    let out = ""
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString()
    })
    const timer = setTimeout(() => proc.kill("SIGKILL"), 900_000)
    proc.on("exit", (code) => {
      clearTimeout(timer)
      if (code !== 0) return reject(new Error(`${mode}: exited with ${code}`))
      const m = JSON.parse(out.trim().split("\n").at(-1)!) as Measure
      if (m.rows !== ROWS) return reject(new Error(`${mode}: ${m.rows} records, expected ${ROWS}`))
      resolve(m)
    })
  })

const best = async (mode: string, check: (m: Measure) => void): Promise<Measure> => {
  let m: Measure | undefined
  for (let i = 0; i < REPEAT; i++) {
    const again = await child(mode)
    check(again)
    if (m === undefined || again.seconds < m.seconds) m = again
  }
  return m!
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })

const expect = (what: string, counter: string, n: number) => (m: Measure) => {
  if (m.counters[counter] !== n)
    throw new Error(
      `${what}: ${counter} = ${m.counters[counter]}, expected ${n} (${JSON.stringify(m.counters)})`,
    )
}

interface ProfiledFunction {
  readonly name: string
  readonly where: string
  readonly code: string
  readonly hits: number
}

/** Where a function's self time goes, by package: effect, kysely, pg, our packages, GC, builtins. */
const category = (f: ProfiledFunction): string => {
  if (f.where === "") return f.name.startsWith("(") ? f.name : "builtins (crypto, strings, natives)"
  if (f.where.startsWith("node:")) return "node internals"
  const pkg = /^(packages\/[^/]+\/src\/[^:]+|bench\/[^:]+|@[^/]+\/[^/]+|[^/]+)/.exec(f.where)?.[1] ?? f.where
  return pkg.startsWith("pg") ? "pg" : pkg
}

/** Prints the child's profile summary: the top functions and the categories, by self time. */
const summarise = (file: string, top: number) => {
  const { samples, functions } = JSON.parse(readFileSync(file, "utf8")) as {
    readonly samples: number
    readonly functions: ReadonlyArray<ProfiledFunction>
  }
  const share = (hits: number) => `${fmt((hits / samples) * 100, 1).padStart(5)} %`
  console.log(`
profile of one more second run (timed part only, ${fmt(samples)} samples): self time by function`)
  for (const f of [...functions].sort((a, b) => b.hits - a.hits).slice(0, top))
    console.log(`  ${share(f.hits)}  ${f.name} ${f.where}${f.code ? `  | ${f.code}` : ""}`)
  const byCategory = new Map<string, number>()
  for (const f of functions) byCategory.set(category(f), (byCategory.get(category(f)) ?? 0) + f.hits)
  console.log("self time by package / category")
  for (const [name, hits] of [...byCategory].sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(`  ${share(hits)}  ${name}`)
}

const main = async () => {
  const t0 = performance.now()
  await dropDatabase()
  await admin((q) => q(`CREATE DATABASE ${DATABASE}`))
  console.log(
    `runner throughput: ${fmt(ROWS)} records, Memory source -> runner -> in-memory sink (batch 20, concurrency 4), state on PostgreSQL (${DATABASE}); best of ${REPEAT} for the source and the analysed runs, one run otherwise`,
  )
  try {
    const autovacuum = await admin(async (q) => {
      const r = (await q("SHOW autovacuum")) as { rows: ReadonlyArray<{ autovacuum: string }> }
      return r.rows[0]?.autovacuum ?? "?"
    })
    const source = await best("source", () => {})
    const first = await child("run")
    expect("first run", "created", ROWS)(first)
    // Right after the first run, `id_map` has only the statistics the store's own analyses gave it
    // as it grew (autovacuum may not have run, or be off): measured once as it is, then again after
    // a full `ANALYZE`, the steady state. The two should match; before the store analyzed for
    // itself, the first was ~25 times slower at the lookups.
    const staleSecond = await child("run")
    expect("second run", "unchanged", ROWS)(staleSecond)
    const staleLookup = await child("lookup")
    expect("lookup", "found", ROWS)(staleLookup)
    await withClient(DATABASE, (q) => q("ANALYZE id_map"))
    const second = await best("run", expect("second run", "unchanged", ROWS))
    const lookup = await best("lookup", expect("lookup", "found", ROWS))

    const rate = (m: Measure) => ROWS / m.seconds
    const header = [
      "measure",
      "seconds",
      "records/s",
      "vs baseline",
      "GC scavenge",
      "GC mark-compact",
      "peak rss",
    ]
    const line = (name: string, m: Measure, ratio: string) => [
      name,
      fmt(m.seconds, 2),
      fmt(rate(m)),
      ratio,
      `${fmt(m.gc.minorMs)} ms (${m.gc.minor})`,
      `${fmt(m.gc.majorMs)} ms (${m.gc.major})`,
      `${fmt(m.peakRssMb)} MB`,
    ]
    const ratio = (a: Measure, b: Measure, of: string) => `${fmt(rate(a) / rate(b), 3)} of ${of}`
    const blank = (cell: string) => ["", "", "", cell, "", "", ""]
    const table: Array<Array<string> | string> = [
      header,
      line("(a) source drained", source, "baseline"),
      line("1. first run (creates)", first, ratio(first, source, "(a)")),
      `as the first run leaves id_map (statistics from the store's own analyses; autovacuum is ${autovacuum} on this server):`,
      line("(b) store.lookup x500", staleLookup, "baseline"),
      line("2. second run (unchanged)", staleSecond, ratio(staleSecond, source, "(a)")),
      blank(ratio(staleSecond, staleLookup, "(b)")),
      "after ANALYZE id_map:",
      line("(b) store.lookup x500", lookup, "baseline"),
      line("2. second run (unchanged)", second, ratio(second, source, "(a)")),
      blank(ratio(second, lookup, "(b)")),
    ]
    console.log("")
    const rows = table.filter((row): row is Array<string> => typeof row !== "string")
    const widths = header.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
    for (const [i, row] of table.entries()) {
      if (typeof row === "string") {
        console.log(row)
        continue
      }
      console.log(
        row
          .map((cell, j) => (j === 0 || j === 3 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!)))
          .join("  "),
      )
      if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "))
    }
    // What the second run (analysed) spends beyond reading and looking up, per record.
    const overhead = second.seconds - source.seconds - lookup.seconds
    console.log(
      `\nsecond run after ANALYZE: ${fmt((second.seconds / ROWS) * 1e6, 1)} µs/record; source ${fmt((source.seconds / ROWS) * 1e6, 1)} + lookup ${fmt((lookup.seconds / ROWS) * 1e6, 1)} = ${fmt(((source.seconds + lookup.seconds) / ROWS) * 1e6, 1)} µs; the runner's own ${fmt((overhead / ROWS) * 1e6, 1)} µs/record (${fmt((overhead / second.seconds) * 100)} %)`,
    )
    console.log(
      `first run: ${fmt((first.seconds / ROWS) * 1e6, 1)} µs/record, ${fmt(first.counters.created ?? 0)} created in ${fmt(ROWS / 20)} sink batches`,
    )

    if (values.profile) {
      const dir = mkdtempSync(path.join(tmpdir(), "b24etl-runner-prof-"))
      try {
        const file = path.join(dir, "profile.json")
        const m = await child("run", ["--enable-source-maps"], { RUNNER_BENCH_PROFILE: file })
        console.log(
          `\n(profiled second run: ${fmt(m.seconds, 2)} s, ${fmt(rate(m))} records/s under the profiler)`,
        )
        summarise(file, 30)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  } finally {
    if (!values.keep) await dropDatabase()
  }
  console.log(`\ntotal ${fmt((performance.now() - t0) / 1000, 1)} s`)
}

await main()
