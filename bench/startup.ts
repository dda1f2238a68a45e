/**
 * Start-up of the installed `pipeline` command (compiled JavaScript, as a user runs it from
 * `node_modules/.bin/pipeline`, not through pnpm): median wall time and peak memory (max RSS) of
 * `--help`, `list`, and a first run of a 30-record pipeline (10 companies, 20 contacts) with the
 * embedded state store (SQLite, the default; PGlite, chosen with `pglite:`) and with PostgreSQL
 * state, next to `node -e 0` measured in the same run; and how long a run on a terminal takes to
 * print its first line (`connecting…`), run under `script` for a pseudo-terminal. Each run starts
 * from empty state (a new directory or database), as a first run does.
 *
 *   pnpm tsx bench/startup.ts                      # builds, packs and installs into a temporary project
 *   pnpm tsx bench/startup.ts --project /tmp/p     # an installed project (`pipeline init` + npm install)
 *   pnpm tsx bench/startup.ts --runs 7 --keep      # more runs; keep the temporary project
 *
 * Needs PostgreSQL (TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres) for the
 * source and the PostgreSQL state, GNU time (/usr/bin/time) for the peak memory, and util-linux's
 * `script` for the terminal.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import pg from "pg"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const argv = process.argv.slice(2)
const flag = (name: string) => {
  const i = argv.indexOf(`--${name}`)
  return i === -1 ? undefined : argv[i + 1]
}
const runs = Number(flag("runs") ?? 5)
const keep = argv.includes("--keep")
const adminUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const urlOf = (database: string) => {
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
}
const sourceDb = "b24etl_bench_startup_source"
const stateDb = "b24etl_bench_startup_state"

/** A user's environment: nothing of pnpm's, or of this shell's pipeline settings. */
const userEnv = (extra: Record<string, string> = {}): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !/^(npm_|PNPM_|pnpm_|PIPELINE_|BITRIX24_|LEGACY_|NODE_OPTIONS$)/.test(k))
      env[k] = v
  return { ...env, NO_COLOR: "1", CI: "1", ...extra }
}

const sh = (command: string, args: ReadonlyArray<string>, cwd: string, env = process.env) => {
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8" })
  if (r.status !== 0)
    throw new Error(`${command} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

const admin = async (statements: ReadonlyArray<string>, url = adminUrl) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    for (const s of statements) await client.query(s)
  } finally {
    await client.end()
  }
}

const recreate = (database: string) =>
  admin([`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`, `CREATE DATABASE ${database}`])

/** The project: given, or built, packed and installed here (one npm install). */
const prepareProject = (): { project: string; cleanup: () => void } => {
  const given = flag("project")
  if (given !== undefined) return { project: given, cleanup: () => {} }
  const dir = mkdtempSync(join(tmpdir(), "b24etl-startup-"))
  try {
    return install(dir)
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
}

const install = (dir: string): { project: string; cleanup: () => void } => {
  const packs = join(dir, "packs")
  mkdirSync(packs)
  console.log(`building and packing into ${dir} …`)
  sh("pnpm", ["build"], root)
  for (const p of ["core", "connectors", "sinks", "bitrix24-emulator", "cli", "b24etl"])
    sh("pnpm", ["pack", "--pack-destination", packs], join(root, "packages", p))
  const project = join(dir, "project")
  const tsx = pathToFileURL(join(root, "node_modules/tsx/dist/loader.mjs")).href
  sh(process.execPath, ["--import", tsx, join(root, "packages/cli/src/bin.ts"), "init", project], dir)
  console.log("npm install …")
  sh(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      ...readdirSync(packs).map((f) => join(packs, f)),
    ],
    project,
    userEnv(),
  )
  return {
    project,
    cleanup: () => (keep ? console.log(`kept ${dir}`) : rmSync(dir, { recursive: true, force: true })),
  }
}

const startEmulator = (project: string): Promise<{ child: ChildProcess; webhook: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(join(project, "node_modules/.bin/pipeline"), ["emulator", "--burst", "0"], {
      cwd: project,
      env: userEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    })
    let out = ""
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString()
      const m = /webhook: (\S+)/.exec(out)
      if (m !== null) resolve({ child, webhook: m[1]! })
    })
    child.on("close", (code) => reject(new Error(`the emulator exited ${code}: ${out}`)))
  })

interface Sample {
  readonly seconds: number
  readonly megabytes: number
  /** User + system CPU seconds: less swayed than the wall time by other work on the machine. */
  readonly cpu: number
}

/** One run under GNU time: wall seconds, max RSS and CPU seconds. */
const measure = (command: ReadonlyArray<string>, cwd: string, env: Record<string, string>): Sample => {
  const out = join(tmpdir(), `b24etl-startup-time-${process.pid}`)
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M %U %S", "-o", out, ...command], {
    cwd,
    env,
    encoding: "utf8",
  })
  if (r.status !== 0) throw new Error(`${command.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`)
  const [seconds, kilobytes, user, system] = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .at(-1)!
    .split(" ")
    .map(Number)
  rmSync(out, { force: true })
  return { seconds: seconds!, megabytes: kilobytes! / 1024, cpu: user! + system! }
}

/**
 * Seconds until a command run on a (pseudo-)terminal prints its first bytes; the command then
 * runs to its end. Without `CI`, which the command takes for "no terminal".
 */
const firstLine = (
  command: ReadonlyArray<string>,
  cwd: string,
  env: Record<string, string>,
): Promise<number> =>
  new Promise((resolve, reject) => {
    const { CI: _, ...terminal } = env
    const started = performance.now()
    let first: number | undefined
    const child = spawn("script", ["-qfec", command.map((w) => `'${w}'`).join(" "), "/dev/null"], {
      cwd,
      env: terminal,
      stdio: ["ignore", "pipe", "pipe"],
    })
    child.stdout.on("data", () => {
      first ??= (performance.now() - started) / 1000
    })
    child.on("close", (code) =>
      code === 0 && first !== undefined
        ? resolve(first)
        : reject(new Error(`${command.join(" ")} on a terminal exited ${code}`)),
    )
  })

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const { project, cleanup } = prepareProject()
await recreate(sourceDb)
await admin(
  [
    `CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, phone text, website text,
      updated_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz)`,
    `CREATE TABLE people (id serial PRIMARY KEY, account_id int, first_name text NOT NULL, last_name text,
      emails text, updated_at timestamptz NOT NULL DEFAULT now())`,
    `INSERT INTO accounts (name, phone, website) SELECT 'Company ' || i, '+49 30 ' || (1000000 + i),
      'https://c' || i || '.example' FROM generate_series(1, 10) i`,
    `INSERT INTO people (account_id, first_name, last_name, emails) SELECT 1 + i % 10, 'First' || i, 'Last' || i,
      'p' || i || '@example.com' FROM generate_series(1, 20) i`,
  ],
  urlOf(sourceDb),
)
const emulator = await startEmulator(project)
const bin = join(project, "node_modules/.bin/pipeline")
const env = userEnv({ LEGACY_DATABASE_URL: urlOf(sourceDb), BITRIX24_WEBHOOK_URL: emulator.webhook })
const states = mkdtempSync(join(tmpdir(), "b24etl-startup-state-"))

const cases: ReadonlyArray<{
  readonly name: string
  readonly command: ReadonlyArray<string>
  readonly before?: (i: number) => Promise<Record<string, string>>
}> = [
  { name: "node -e 0", command: [process.execPath, "-e", "0"] },
  { name: "pipeline --help", command: [bin, "--help"] },
  { name: "pipeline list", command: [bin, "list"] },
  {
    name: "run, 30 records, embedded state (SQLite, default)",
    command: [bin, "run", "crm"],
    before: async (i) => ({ PIPELINE_STATE_URL: join(states, `sqlite-${i}`) }),
  },
  {
    name: "run, 30 records, embedded state (pglite:)",
    command: [bin, "run", "crm"],
    before: async (i) => ({ PIPELINE_STATE_URL: `pglite:${join(states, `pglite-${i}`)}` }),
  },
  {
    name: "run, 30 records, PostgreSQL state",
    command: [bin, "run", "crm"],
    before: async () => {
      await recreate(stateDb)
      return { PIPELINE_STATE_URL: urlOf(stateDb) }
    },
  },
]

const firstLines: ReadonlyArray<{
  readonly name: string
  readonly command: ReadonlyArray<string>
  readonly before: (i: number) => Promise<Record<string, string>>
}> = [
  {
    name: "run on a terminal: first line (connecting…)",
    command: [bin, "run", "crm"],
    before: async (i) => ({ PIPELINE_STATE_URL: join(states, `terminal-${i}`) }),
  },
]

try {
  const results: Array<readonly [string, number, number, number]> = []
  for (const c of cases) {
    const samples: Array<Sample> = []
    for (let i = 0; i < runs; i++) {
      const extra = c.before === undefined ? {} : await c.before(i)
      samples.push(measure(c.command, project, { ...env, ...extra }))
    }
    const row = [
      c.name,
      median(samples.map((s) => s.seconds)),
      median(samples.map((s) => s.megabytes)),
      median(samples.map((s) => s.cpu)),
    ] as const
    results.push(row)
    console.log(
      `${row[0].padEnd(44)} ${row[1].toFixed(2)} s  ${row[2].toFixed(0).padStart(4)} MB  ${row[3].toFixed(2)} s CPU`,
    )
  }
  for (const c of firstLines) {
    const samples: Array<number> = []
    for (let i = 0; i < runs; i++)
      samples.push(await firstLine(c.command, project, { ...env, ...(await c.before(i)) }))
    console.log(`${c.name.padEnd(44)} ${median(samples).toFixed(2)} s`)
  }
  const base = results[0]!
  console.log(
    `\nmedian of ${runs} runs; node -e 0 took ${base[1].toFixed(2)} s and ${base[2].toFixed(0)} MB in this run`,
  )
} finally {
  emulator.child.kill("SIGTERM")
  rmSync(states, { recursive: true, force: true })
  await admin([
    `DROP DATABASE IF EXISTS ${sourceDb} WITH (FORCE)`,
    `DROP DATABASE IF EXISTS ${stateDb} WITH (FORCE)`,
  ])
  cleanup()
}
