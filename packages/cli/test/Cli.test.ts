import { existsSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { type Project, project } from "./fixtures/Cli.js"
import { readSinkFile } from "./fixtures/Fixture.js"
import * as Pipelines from "./fixtures/pipelines.js"

// Every test runs the real command (`node --import tsx src/bin.ts`) in one temporary project
// whose `pipelines/` holds the fixture pipelines, with its own embedded state store.
// Child processes each start a TypeScript loader: slow on a busy 2-core machine, so generous.
const TIMEOUT = 600_000

let p: Project
beforeAll(() => {
  p = project()
  p.writePipeline("crm.ts", Pipelines.crm)
  p.writePipeline("deals.ts", Pipelines.deals)
  p.writePipeline("cycle.ts", Pipelines.cycle)
  p.writePipeline("unknown-ref.ts", Pipelines.unknownReference)
  p.writePipeline("bad-field.ts", Pipelines.badField)
  p.writePipeline("broken.ts", Pipelines.notAPipeline)
  p.writePipeline("slow.ts", Pipelines.slow)
  p.writePipeline("ticking.ts", Pipelines.ticking)
})

describe("pipeline (child process)", () => {
  it("--help lists every command", { timeout: TIMEOUT }, async () => {
    const r = await p.cli(["--help"])
    expect(r.code).toBe(0)
    for (const command of [
      "init",
      "list",
      "plan",
      "run",
      "status",
      "failures",
      "retry",
      "reset",
      "serve",
      "emulator",
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${command} `, "m"))
    }
  })

  it("list shows the pipelines found, and the files that do not load, each with why", {
    timeout: TIMEOUT,
  }, async () => {
    const r = await p.cli(["list"])
    const row = (name: string) => r.stdout.split("\n").find((l) => l.startsWith(`${name} `)) ?? ""
    expect(row("crm")).toMatch(/crm\s+company, contact\s+\*\/15 \* \* \* \*\s+companies and their contacts/)
    expect(row("deals")).toMatch(/deals\s+deal\s+on demand/)
    expect(r.stdout).toContain(
      "pipelines/broken.ts: pipelines/broken.ts must `export default Pipeline.make({...})`",
    )
    expect(r.stdout).toContain(
      'pipelines/cycle.ts: pipeline "cycle", entity "alpha": reference cycle: alpha -> beta -> alpha',
    )
    // Files that do not load make the listing fail, so CI notices, without hiding the others.
    expect(r.code).toBe(1)
  })

  it("plan on a reference cycle exits 1 naming the entities on it", { timeout: TIMEOUT }, async () => {
    const r = await p.cli(["plan", "cycle"])
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe(
      'error: pipeline "cycle", entity "alpha": reference cycle: alpha -> beta -> alpha. Declare one of these references as { entity, field, deferred: true } to create without it and link afterwards',
    )
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it("plan with an unknown reference names the entity and the reference", { timeout: TIMEOUT }, async () => {
    const r = await p.cli(["plan", "pipelines/unknown-ref.ts"])
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe(
      'error: pipeline "unknown-ref", entity "contact": reference to unknown entity "company" (entities: contact)',
    )
  })

  it("plan shows order, counts, fields and the estimate; sink problems exit 1", {
    timeout: TIMEOUT,
  }, async () => {
    const ok = await p.cli(["plan", "crm"])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain("Order: company → contact")
    // RECORDS, then given the (empty) state: NEW, CHANGED, UNCHANGED, PENDING, DEAD.
    expect(ok.stdout).toMatch(/company\s+company\s+memory table companies\s+3\s+3\s+0\s+0\s+0\s+0\s+title/)
    expect(ok.stdout).toMatch(
      /contact\s+contact\s+memory table people\s+3\s+3\s+0\s+0\s+0\s+0\s+companyId, name/,
    )
    expect(ok.stdout).toContain("Given the state (every record read): 6 new, 0 changed")
    expect(ok.stdout).toContain(
      "Estimated duration: 6.0s at the sink's rate, for the 6 records left to write",
    )
    expect(ok.stdout).toContain("Problems: none")

    const bad = await p.cli(["plan", "bad-field"])
    expect(bad.code).toBe(1)
    expect(bad.stdout).toContain('company.badColour: the target has no field "badColour"')
    expect(bad.stderr).toContain('error: the plan of pipeline "bad-field" has 1 problem')
  })

  it("an unknown pipeline names what was searched and what exists", { timeout: TIMEOUT }, async () => {
    const r = await p.cli(["run", "nope"])
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toMatch(/^error: no pipeline "nope" in pipelines \(found: .*crm.*\)/)
  })

  it("run --dry-run --limit --entity reads and maps only what is asked and writes nothing", {
    timeout: TIMEOUT,
  }, async () => {
    const r = await p.cli(["run", "crm", "--dry-run", "--limit", "2", "--entity", "company", "--json"])
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report).toMatchObject({ pipeline: "crm", dryRun: true, status: "succeeded" })
    expect(report.entities).toMatchObject([{ entity: "company", read: 2, created: 2 }])
    expect(existsSync(join(p.dir, "sink-crm.json"))).toBe(false)

    const unknown = await p.cli(["run", "crm", "--entity", "lead"])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr.trim()).toBe(
      'error: pipeline "crm" has no entity "lead" (entities: company, contact)',
    )
  })

  it("run creates every record once; a second run writes nothing", { timeout: TIMEOUT }, async () => {
    const first = await p.cli(["run", "crm"])
    expect(first.stderr).toBe("")
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/company\s+company\s+3\s+3\s+0\s+0\s+0\s+0/)
    expect(first.stdout).toMatch(/contact\s+contact\s+3\s+3\s+0\s+0\s+0\s+0/)
    expect(first.stdout).toContain("Status: succeeded")
    expect(first.stdout).toContain(`State: ${p.state}`)
    const sink = readSinkFile(join(p.dir, "sink-crm.json"))
    expect(Object.keys(sink.items.company ?? {})).toHaveLength(3)
    expect(Object.values(sink.items.contact ?? {}).map((c) => c.fields.companyId)).toEqual(["1", "2", "2"])

    const second = await p.cli(["run", "crm", "--json"])
    expect(second.code).toBe(0)
    const report = JSON.parse(second.stdout)
    expect(report.status).toBe("succeeded")
    expect(
      report.entities.map((e: { created: number; unchanged: number }) => [e.created, e.unchanged]),
    ).toEqual([
      [0, 3],
      [0, 3],
    ])
    expect(readSinkFile(join(p.dir, "sink-crm.json")).calls.create).toBe(sink.calls.create)

    const status = await p.cli(["status", "crm"])
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/company\s+3\s+0/)
    expect(status.stdout).toMatch(/contact\s+3\s+0/)
    expect(status.stdout.match(/succeeded/g)).toHaveLength(2)
    expect(status.stdout).toContain("Dead letters: 0")
    expect(status.stdout).toMatch(/Schedule: \*\/15 \* \* \* \* — next run \d{4}-\d\d-\d\d \d\d:\d\d:00Z/)
  })

  it("a record whose mapping throws is dead-lettered; the run exits 2; failures lists it; reset --yes clears", {
    timeout: TIMEOUT,
  }, async () => {
    const run = await p.cli(["run", "deals"])
    expect(run.code).toBe(2)
    expect(run.stdout).toMatch(/deal\s+deal\s+3\s+2\s+0\s+0\s+0\s+1/)
    expect(run.stdout).toContain("Dead letters: 1 — see `pnpm pipeline failures deals`")

    const failures = await p.cli(["failures", "deals"])
    expect(failures.code).toBe(0)
    expect(failures.stdout).toMatch(/deal\s+2\s+map\s+\S+\s+1\s+amount "n\/a" is not a number/)

    // retry reads only the dead-lettered record again; it still fails, one attempt more.
    const retry = await p.cli(["retry", "deals"])
    expect(retry.code).toBe(2)
    expect(retry.stdout).toMatch(/deal\s+deal\s+1\s+0\s+0\s+0\s+0\s+1/)

    // status for day two: the dead letters by entity and code, and the last successful run.
    const day2 = await p.cli(["status", "deals"])
    expect(day2.code).toBe(0)
    expect(day2.stdout).toMatch(/^ENTITY\s+CODE\s+DEAD LETTERS\n\s*deal\s+\S+\s+1$/m)
    expect(day2.stdout).toMatch(/^Last successful run: \S.*, with dead letters\)$/m)
    expect(day2.stdout).not.toContain("Last run failed")
    const day2Json = JSON.parse((await p.cli(["status", "deals", "--json"])).stdout)
    expect(day2Json.lastRun).toMatchObject({ status: "partial", error: null })
    expect(day2Json.deadLettersByCode).toEqual([{ entity: "deal", code: expect.any(String), count: 1 }])

    const json = await p.cli(["failures", "deals", "--json"])
    const letters = JSON.parse(json.stdout)
    expect(letters).toHaveLength(1)
    expect(letters[0]).toMatchObject({
      entity: "deal",
      sourceKey: "2",
      stage: "map",
      message: 'amount "n/a" is not a number',
      payload: { id: 2, title: "Broken", amount: "n/a" },
      attempts: 2,
    })

    const refused = await p.cli(["reset", "deals"])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('error: refusing to reset pipeline "deals" without --yes')

    const reset = await p.cli(["reset", "deals", "--yes"])
    expect(reset.code).toBe(0)
    const after = await p.cli(["status", "deals", "--json"])
    const status = JSON.parse(after.stdout)
    expect(status.deadLetters).toBe(0)
    expect(status.idMap).toEqual([{ entity: "deal", created: 0, pending: 0 }])
  })

  it(".env and PIPELINE_DIR configure the command; --state wins over them", {
    timeout: TIMEOUT,
  }, async () => {
    const other = project()
    other.writePipeline("elsewhere.ts", Pipelines.crm.replace('name: "crm"', 'name: "elsewhere"'))
    writeFileSync(
      join(p.dir, ".env"),
      `PIPELINE_DIR=${other.dir}/pipelines\nPIPELINE_STATE_URL=${p.dir}/state-from-dotenv\n`,
    )
    try {
      // Without PIPELINE_STATE_URL in the environment, the one in .env applies.
      const fromDotenv = await p.cli(["status", "elsewhere"], { env: { PIPELINE_STATE_URL: undefined } })
      expect(fromDotenv.code).toBe(0)
      expect(fromDotenv.stdout).toContain(`Pipeline elsewhere — state: ${p.dir}/state-from-dotenv`)
      const flag = await p.cli(["status", "crm", "--state", `${p.dir}/state-from-flag`])
      expect(flag.code).toBe(0)
      expect(flag.stdout).toContain(`state: ${p.dir}/state-from-flag`)
    } finally {
      rmSync(join(p.dir, ".env"))
    }
  })

  it("SIGINT stops a run: batches in flight are committed and the interrupted report printed, exit 1", {
    timeout: TIMEOUT,
  }, async () => {
    const sinkFile = join(p.dir, "sink-slow.json")
    const r = await p.cli(["run", "slow"], {
      onSpawn: (pid) => {
        // Once a batch is written (before it, a stop leaves nothing to write: what was read stays unread).
        const poll = setInterval(() => {
          if (existsSync(sinkFile)) {
            clearInterval(poll)
            process.kill(pid, "SIGINT")
          }
        }, 20)
      },
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("interrupted: reading stops now (press Ctrl-C again to quit at once)")
    expect(`${r.stdout}${r.stderr}`).toMatch(
      /stopping: (finishing \d+ batch(es)? \([\d,]+ records\)…|no batch in flight)/,
    )
    expect(r.stdout).toContain("Status: interrupted")
    const written = Object.keys(readSinkFile(join(p.dir, "sink-slow.json")).items.row ?? {}).length
    expect(written).toBeGreaterThan(0)
    expect(written).toBeLessThan(400)
    const status = JSON.parse((await p.cli(["status", "slow", "--json"])).stdout)
    expect(status.runs[0].status).toBe("interrupted")
    expect(status.idMap).toEqual([{ entity: "row", created: written, pending: 0 }])
  })

  it("serve runs a scheduled pipeline on its cron times and stops on SIGTERM after the run in progress", {
    timeout: TIMEOUT,
  }, async () => {
    const sinkFile = join(p.dir, "sink-ticking.json")
    const r = await p.cli(["serve", "ticking"], {
      onSpawn: (pid) => {
        const poll = setInterval(() => {
          if (existsSync(sinkFile)) {
            clearInterval(poll)
            // Let a second tick come, then stop.
            setTimeout(() => process.kill(pid, "SIGTERM"), 2_500)
          }
        }, 100)
      },
    })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain("serving ticking")
    expect(r.stderr).toContain("stopped")
    expect(r.stdout).toMatch(/ticking: next run at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/)
    expect(r.stdout).toMatch(
      /ticking: run succeeded in \S+ · read 6 · created 6 · updated 0 · unchanged 0 · failed 0/,
    )
    expect(r.stdout).toMatch(
      /ticking: run succeeded in \S+ · read 6 · created 0 · updated 0 · unchanged 6 · failed 0/,
    )
  })
})
