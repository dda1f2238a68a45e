/**
 * `pnpm bench [name] [args...]`: runs one benchmark by name, or lists them.
 *
 *   pnpm bench                      # the list
 *   pnpm bench runner --rows 50000  # bench/runner.ts with its own arguments
 *
 * Each benchmark is a script of its own (`pnpm tsx bench/<name>.ts` works as well); this only
 * saves remembering the names. Benchmarks print figures and ratios; they are not tests.
 */
import { spawnSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const benchmarks: Record<string, string> = {
  sink: "Bitrix24 sink side by side with the vendor SDK: items/s, ceiling per regime, 503/429 answers",
  runner: "the runner's own throughput between source and sink (first run, unchanged rerun)",
  sources: "PostgreSQL and MariaDB sources against their bare drivers: rows/s and peak memory",
  emulator: "requests/s the emulator sustains with its limits off",
  startup: "the installed pipeline command: --help, list and a 30-record run, wall time and peak memory",
  limiter: "grants/s the shared rate limiter gets from one PostgreSQL, on one portal's row and on many",
  fleet:
    "W workers over P emulated portals and N pipelines: throughput per portal vs its ceiling, 503/429, state database load per request",
}

const [name, ...args] = process.argv.slice(2)
if (name === undefined || !(name in benchmarks)) {
  if (name !== undefined) console.error(`unknown benchmark "${name}"\n`)
  console.log("usage: pnpm bench <name> [args...]\n")
  for (const [n, what] of Object.entries(benchmarks)) console.log(`  ${n.padEnd(10)} ${what}`)
  process.exit(name === undefined ? 0 : 1)
}
const script = join(dirname(fileURLToPath(import.meta.url)), `${name}.ts`)
const child = spawnSync(process.execPath, ["--import", "tsx", script, ...args], { stdio: "inherit" })
process.exit(child.status ?? 1)
