import { type ChildProcess, spawn } from "node:child_process"
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { root, start } from "./support/cli.js"

/**
 * The published form, as a user gets it: the packages are built and packed (`pnpm pack`), the
 * tarballs installed with plain npm into an empty directory outside the repository, into a
 * project `pipeline init` wrote. There its pipeline type-checks with `tsc` (and a typo in `map`
 * fails it), and the installed binary (compiled JavaScript) plans and runs it against a local
 * emulator and a real PostgreSQL source. npm fetches the third-party dependencies from the
 * registry: one install, a minute or so.
 */

const packages = ["core", "connectors", "sinks", "bitrix24-emulator", "cli", "b24etl"]
const database = "b24etl_package"
const adminUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const sourceUrl = (() => {
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
})()

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** The environment of a user's shell: nothing of this repository's pnpm, vitest or pipeline settings. */
const userEnv = (extra: Record<string, string> = {}): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(npm_|pnpm_|PNPM_|VITEST|PIPELINE_|BITRIX24_|LEGACY_|NODE_OPTIONS$)/.test(k))
      continue
    env[k] = v
  }
  return { ...env, NO_COLOR: "1", CI: "1", ...extra }
}

const exec = (
  command: string,
  args: ReadonlyArray<string>,
  cwd: string,
  env: Record<string, string> = userEnv(),
): Promise<Finished> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

const ok = (r: Finished, what: string): Finished => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
  return r
}

/** Starts the installed `pipeline emulator` and waits for the webhook line it prints first. */
const startEmulator = (project: string): Promise<{ child: ChildProcess; webhook: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(join(project, "node_modules/.bin/pipeline"), ["emulator", "--burst", "0"], {
      cwd: project,
      env: userEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    })
    let out = ""
    const timer = setTimeout(() => reject(new Error(`the emulator printed no webhook: ${out}`)), 60_000)
    const read = (d: Buffer) => {
      out += d.toString()
      const m = /webhook: (\S+)/.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve({ child, webhook: m[1]! })
      }
    }
    child.stdout.on("data", read)
    child.stderr.on("data", read)
    child.on("close", (code) => reject(new Error(`the emulator exited ${code}: ${out}`)))
  })

const withAdmin = async (f: (client: pg.Client) => Promise<void>) => {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    await f(client)
  } finally {
    await client.end()
  }
}

/** A legacy CRM with the tables and columns the template reads: 10 accounts (one deleted), 20 people. */
const createSource = async () => {
  await withAdmin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await c.query(`CREATE DATABASE ${database}`)
  })
  const client = new pg.Client({ connectionString: sourceUrl })
  await client.connect()
  try {
    await client.query(`
      CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, phone text, website text,
        updated_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz);
      CREATE TABLE people (id serial PRIMARY KEY, account_id int, first_name text NOT NULL, last_name text,
        emails text, updated_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO accounts (name, phone, website, deleted_at)
        SELECT 'Company ' || i, '+49 30 ' || (1000000 + i), 'https://c' || i || '.example',
          CASE WHEN i = 10 THEN now() END
        FROM generate_series(1, 10) i;
      INSERT INTO people (account_id, first_name, last_name, emails)
        SELECT 1 + i % 9, 'First' || i, 'Last' || i, 'p' || i || '@example.com; q' || i || '@example.com'
        FROM generate_series(1, 20) i;`)
  } finally {
    await client.end()
  }
}

// Made in `beforeAll`, so a run that skips these tests leaves nothing behind.
let dir = ""
let project = ""
let emulator: { child: ChildProcess; webhook: string } | undefined

describe("b24etl as published", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "b24etl-package-"))
    const packs = join(dir, "packs")
    project = join(dir, "my-crm")
    await createSource()
    ok(await exec("pnpm", ["build"], root, { ...process.env } as Record<string, string>), "pnpm build")
    mkdirSync(packs)
    for (const p of packages)
      ok(
        await exec("pnpm", ["pack", "--pack-destination", packs], join(root, "packages", p), {
          ...process.env,
        } as Record<string, string>),
        `pnpm pack of ${p}`,
      )
    // The project is written by the command under development (from source); the rest runs installed.
    const init = await start(["init", project], {}, dir).done
    expect(init.stderr).toBe("")
    ok(init, "pipeline init")
    const tarballs = readdirSync(packs).map((f) => join(packs, f))
    expect(tarballs).toHaveLength(packages.length)
    ok(
      await exec("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs], project),
      "npm install",
    )
    emulator = await startEmulator(project)
  }, 600_000)

  afterAll(async () => {
    emulator?.child.kill("SIGTERM")
    await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).then(() => undefined))
    if (dir !== "") rmSync(dir, { recursive: true, force: true })
  })

  it("installs from the tarballs alone: nothing resolves into the repository", async () => {
    const b24etl = realpathSync(join(project, "node_modules/b24etl"))
    expect(b24etl.startsWith(realpathSync(project))).toBe(true)
    expect(realpathSync(project).startsWith(realpathSync(root))).toBe(false)
    const manifest = JSON.parse(readFileSync(join(b24etl, "package.json"), "utf8"))
    expect(manifest.dependencies["@b24etl/core"]).toBe("0.1.0")
    expect(manifest.bin.pipeline).toBe("./dist/bin.js")
    // The binary is compiled JavaScript.
    expect(realpathSync(join(project, "node_modules/.bin/pipeline")).endsWith("dist/bin.js")).toBe(true)
  })

  it("type-checks the pipeline with tsc; a typo in map fails it, naming the field", async () => {
    const tsc = join(project, "node_modules/.bin/tsc")
    ok(await exec(tsc, ["--noEmit"], project), "tsc --noEmit")
    const template = readFileSync(join(project, "pipelines/crm.ts"), "utf8")
    expect(template).toContain("title: r.name,")
    writeFileSync(join(project, "pipelines/typo.ts"), template.replace("title: r.name,", "title: r.nmae,"))
    try {
      const failed = await exec(tsc, ["--noEmit"], project)
      expect(failed.code).not.toBe(0)
      expect(failed.stdout).toContain("pipelines/typo.ts")
      expect(failed.stdout).toContain("Property 'nmae' does not exist on type 'Account'")
    } finally {
      rmSync(join(project, "pipelines/typo.ts"))
    }
  })

  it("answers --help loading only the help: no commands, @effect/cli, platform layer, Schema or drivers", async () => {
    // A module hook records every module the process loads.
    const hooks = join(dir, "trace-hooks.mjs")
    const register = join(dir, "trace-register.mjs")
    const trace = join(dir, "trace.txt")
    writeFileSync(
      hooks,
      `import { appendFileSync } from "node:fs"\nexport async function load(url, context, next) {\n  appendFileSync(${JSON.stringify(trace)}, url + "\\n")\n  return next(url, context)\n}\n`,
    )
    writeFileSync(
      register,
      `import { register } from "node:module"\nregister(${JSON.stringify(pathToFileURL(hooks).href)})\n`,
    )
    const bin = realpathSync(join(project, "node_modules/.bin/pipeline"))
    ok(await exec(process.execPath, ["--import", register, bin, "--help"], project), "pipeline --help")
    const loaded = readFileSync(trace, "utf8").split("\n")
    expect(loaded.some((u) => u.includes("/@b24etl/cli/dist/Help.js"))).toBe(true)
    for (const heavy of [
      "/@b24etl/cli/dist/commands/",
      "/@effect/cli/",
      "/effect/dist/esm/Schema.js",
      "/effect/dist/esm/index.js",
      "/fast-check/",
      "/kysely/",
      "/@electric-sql/pglite/",
      "/node-sqlite3-wasm/",
      "/pg/",
      "/mysql2/",
      "/tsx/",
    ])
      expect(
        loaded.filter((u) => u.includes(heavy)),
        heavy,
      ).toEqual([])
  })

  it("plans and runs it with the installed binary against the emulator", async () => {
    const pipeline = join(project, "node_modules/.bin/pipeline")
    const env = userEnv({ LEGACY_DATABASE_URL: sourceUrl, BITRIX24_WEBHOOK_URL: emulator!.webhook })
    const help = ok(await exec(pipeline, ["--help"], project, env), "pipeline --help")
    expect(help.stdout).toContain("Usage:\n  npx pipeline <command> [options]")
    expect(help.stdout).toMatch(/^ {2}init /m)

    const plan = ok(await exec(pipeline, ["plan", "crm"], project, env), "pipeline plan crm")
    expect(plan.stdout).toContain("Order: company → contact")
    expect(plan.stdout).toMatch(/company\s+company\s+table accounts\s+10/)
    expect(plan.stdout).toMatch(/contact\s+contact\s+table people\s+20/)
    expect(plan.stdout).toContain("Problems: none")

    const run = ok(await exec(pipeline, ["run", "crm", "--json"], project, env), "pipeline run crm")
    const report = JSON.parse(run.stdout)
    expect(report.status).toBe("succeeded")
    const created = Object.fromEntries(
      (report.entities as ReadonlyArray<{ entity: string; created: number; skipped: number }>).map((e) => [
        e.entity,
        [e.created, e.skipped],
      ]),
    )
    expect(created).toEqual({ company: [9, 1], contact: [20, 0] })
    // The embedded default is SQLite (node-sqlite3-wasm, installed from the registry with nothing to build).
    expect(existsSync(join(project, ".pipeline/state/state.sqlite"))).toBe(true)
  })
})

describe("the b24etl package", () => {
  it("re-exports every public module: core, connectors and sinks flat, the emulator under emulator/", () => {
    const modules = (p: string) =>
      readdirSync(join(root, "packages", p, "src"))
        .filter((f) => f.endsWith(".ts") && f !== "bin.ts")
        .map((f) => f.slice(0, -3))
    const expected = new Map<string, string>()
    for (const p of ["core", "connectors", "sinks"])
      for (const m of modules(p)) {
        expect(expected.has(`${m}.ts`), `b24etl/${m} is in two packages`).toBe(false)
        expected.set(
          `${m}.ts`,
          `/** \`@b24etl/${p}/${m}\`, re-exported as \`b24etl/${m}\`. */\nexport * from "@b24etl/${p}/${m}"\n`,
        )
      }
    for (const m of modules("bitrix24-emulator"))
      expected.set(
        `emulator/${m}.ts`,
        `/** \`@b24etl/bitrix24-emulator/${m}\`, re-exported as \`b24etl/emulator/${m}\`. */\nexport * from "@b24etl/bitrix24-emulator/${m}"\n`,
      )
    const src = join(root, "packages/b24etl/src")
    const actual = [
      ...readdirSync(src).filter((f) => f.endsWith(".ts") && f !== "bin.ts"),
      ...readdirSync(join(src, "emulator")).map((f) => `emulator/${f}`),
    ]
    expect(actual.sort()).toEqual([...expected.keys()].sort())
    for (const [file, content] of expected) expect(readFileSync(join(src, file), "utf8"), file).toBe(content)
  })
})
