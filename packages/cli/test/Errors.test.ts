import { beforeAll, describe, expect, it } from "vitest"
import { type Project, project } from "./fixtures/Cli.js"
import * as Pipelines from "./fixtures/pipelines.js"

// The command's errors and output as a user meets them, each by running the real command.
// Child processes each start a TypeScript loader: slow on a busy 2-core machine, so generous.
const TIMEOUT = 600_000

let p: Project
beforeAll(() => {
  p = project()
  p.writePipeline("crm.ts", Pipelines.crm)
  p.writePipeline("deals.ts", Pipelines.deals)
  p.writePipeline("all-fail.ts", Pipelines.allFail)
  p.writePipeline("portal.ts", Pipelines.portal)
})

describe("pipeline errors and output (child process)", () => {
  it("a pipeline file that does not compile is reported with file:line:column and the reason", {
    timeout: TIMEOUT,
  }, async () => {
    const broken = project()
    broken.writePipeline("oops.ts", Pipelines.syntaxError)
    const run = await broken.cli(["run", "pipelines/oops.ts"])
    expect(run.code).toBe(1)
    expect(run.stderr.trim()).toBe('error: cannot load pipelines/oops.ts:3:20: Unexpected "}"')
    const list = await broken.cli(["list"])
    expect(list.code).toBe(1)
    expect(list.stdout).toContain('pipelines/oops.ts: cannot load pipelines/oops.ts:3:20: Unexpected "}"')
    // Loading by name gives the error of the file named after it.
    const byName = await broken.cli(["plan", "oops"])
    expect(byName.stderr.trim()).toBe('error: cannot load pipelines/oops.ts:3:20: Unexpected "}"')
  })

  it("a --json command that fails prints one JSON object on stdout and the text on stderr", {
    timeout: TIMEOUT,
  }, async () => {
    const r = await p.cli(["run", "nope", "--json"])
    expect(r.code).toBe(1)
    const out = JSON.parse(r.stdout)
    expect(out).toEqual({
      error: { kind: "PipelineNotFound", message: expect.stringContaining('no pipeline "nope"') },
    })
    expect(r.stderr).toMatch(/^error: no pipeline "nope" in pipelines/)

    const status = await p.cli(["status", "crm", "--json", "--state", "postgres://nobody@127.0.0.1:1/x"])
    expect(status.code).toBe(1)
    expect(JSON.parse(status.stdout).error.kind).toBe("StateStoreError")
  })

  it("a reader that closes the pipe early (`| head`) ends the command quietly", {
    timeout: TIMEOUT,
  }, async () => {
    for (const args of [["list"], ["status", "crm"], ["run", "crm", "--dry-run"]]) {
      const r = await p.cli(args, { closeStdout: true })
      expect(r.stderr, args.join(" ")).not.toMatch(/EPIPE|Error|at /)
      expect(r.signal).toBeNull()
      expect(r.code, args.join(" ")).toBe(0)
    }
  })

  it("hints name the pipeline as the user did: by its path when given by path", {
    timeout: TIMEOUT,
  }, async () => {
    const run = await p.cli(["run", "./pipelines/deals.ts"])
    expect(run.code).toBe(2)
    expect(run.stdout).toContain(
      "Dead letters: 1 — see `pnpm pipeline failures ./pipelines/deals.ts`, then `pnpm pipeline retry ./pipelines/deals.ts`",
    )
    const failures = await p.cli(["failures", "./pipelines/deals.ts"])
    expect(failures.stdout).toContain("Payloads: `pnpm pipeline failures ./pipelines/deals.ts --json`")
    const status = await p.cli(["status", "./pipelines/deals.ts"])
    expect(status.stdout).toContain("see `pnpm pipeline failures ./pipelines/deals.ts`")
    const byName = await p.cli(["status", "deals"])
    expect(byName.stdout).toContain("see `pnpm pipeline failures deals`")
  })

  it("two files defining pipelines of the same name are an error naming both", {
    timeout: TIMEOUT,
  }, async () => {
    const twice = project()
    twice.writePipeline("crm.ts", Pipelines.crm)
    twice.writePipeline("crm-copy.ts", Pipelines.crm)
    twice.writePipeline("deals.ts", Pipelines.deals)
    const run = await twice.cli(["run", "crm"])
    expect(run.code).toBe(1)
    expect(run.stderr.trim()).toBe(
      'error: pipeline "crm" is defined in 2 files: pipelines/crm-copy.ts and pipelines/crm.ts; rename one (a pipeline\'s name keys its state, so each name must be unique)',
    )
    const list = await twice.cli(["list"])
    expect(list.code).toBe(1)
    expect(list.stdout).toMatch(/^deals\s/m)
    expect(list.stdout).toContain('pipelines/crm.ts: pipeline "crm" is defined in 2 files')
    expect(list.stdout).toContain('pipelines/crm-copy.ts: pipeline "crm" is defined in 2 files')
  })

  it("an unknown pipeline, or entity, is refused with the known ones and the likely one meant", {
    timeout: TIMEOUT,
  }, async () => {
    const pipeline = await p.cli(["status", "crn"])
    expect(pipeline.code).toBe(1)
    expect(pipeline.stderr.trim()).toMatch(
      /^error: no pipeline "crn" in pipelines \(found: .*\); did you mean "crm"\?$/,
    )

    const failures = await p.cli(["failures", "deals", "--entity", "dela"])
    expect(failures.code).toBe(1)
    expect(failures.stdout).toBe("")
    expect(failures.stderr.trim()).toBe(
      'error: pipeline "deals" has no entity "dela" (entities: deal); did you mean "deal"?',
    )
    const run = await p.cli(["run", "crm", "--entity", "compnay"])
    expect(run.code).toBe(1)
    expect(run.stderr.trim()).toBe(
      'error: pipeline "crm" has no entity "compnay" (entities: company, contact); did you mean "company"?',
    )
    const reset = await p.cli(["reset", "crm", "--entity", "lead", "--yes"])
    expect(reset.code).toBe(1)
    expect(reset.stderr.trim()).toBe(
      'error: pipeline "crm" has no entity "lead" (entities: company, contact)',
    )
  })

  it("failures lists keys in natural order: 2 before 10", { timeout: TIMEOUT }, async () => {
    const run = await p.cli(["run", "all-fail"])
    expect(run.code).toBe(2)
    const failures = await p.cli(["failures", "all-fail"])
    const keys = failures.stdout.split("\n").flatMap((l) => /^deal\s+(\d+)\s/.exec(l)?.slice(1, 2) ?? [])
    expect(keys).toEqual(["1", "2", "10", "11"])
    const limited = await p.cli(["failures", "all-fail", "--limit", "3", "--json"])
    expect(JSON.parse(limited.stdout).map((d: { sourceKey: string }) => d.sourceKey)).toEqual([
      "1",
      "2",
      "10",
    ])
  })

  it("a malformed webhook URL is reported without its code", { timeout: TIMEOUT }, async () => {
    for (const url of [
      "https://crm.example.invalid/rest/LEAKCODE3/",
      "https://crm.example.invalid/LEAKCODE3",
      "crm.example.invalid/rest/1/LEAKCODE3/",
    ]) {
      for (const args of [
        ["plan", "portal"],
        ["run", "portal", "--json"],
      ]) {
        const r = await p.cli(args, { env: { BITRIX24_WEBHOOK_URL: url } })
        expect(r.code, `${args.join(" ")} ${url}`).toBe(1)
        expect(r.stderr).toContain("must look like https://<portal>/rest/<user id>/<webhook code>/")
        expect(r.stdout + r.stderr).not.toContain("LEAKCODE3")
      }
    }
  })
})
