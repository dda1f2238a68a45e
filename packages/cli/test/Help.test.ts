import { beforeAll, describe, expect, it } from "vitest"
import { type Project, project } from "./fixtures/Cli.js"
import * as Pipelines from "./fixtures/pipelines.js"

// The help and the usage errors as a user meets them, by running the real command. Its output is
// a pipe here, as it is for `pnpm pipeline --help | less`: no ANSI codes may appear.
// Child processes each start a TypeScript loader: slow on a busy 2-core machine, so generous.
const TIMEOUT = 300_000
const ansi = "\u001b["

let p: Project
beforeAll(() => {
  p = project()
  p.writePipeline("crm.ts", Pipelines.crm)
})

describe("pipeline help (child process)", () => {
  it("--help lists the commands with the program name, global options, examples, exit codes and environment", {
    timeout: TIMEOUT,
  }, async () => {
    const r = await p.cli(["--help"], { env: { NO_COLOR: undefined } })
    expect(r.code).toBe(0)
    expect(r.stderr).toBe("")
    expect(r.stdout).not.toContain(ansi)
    expect(r.stdout).toContain(
      "Usage:\n  pnpm pipeline <command> [options]\n  pnpm pipeline <command> --help",
    )
    for (const command of [
      "list",
      "plan",
      "run",
      "status",
      "failures",
      "retry",
      "reset",
      "undo",
      "verify",
      "unlock",
      "serve",
      "worker",
      "emulator",
      "demo seed",
    ])
      expect(r.stdout).toMatch(new RegExp(`^  ${command} +\\S`, "m"))
    expect(r.stdout).toContain("  pnpm pipeline run migrate-legacy\n")
    expect(r.stdout).toMatch(/^ {2}2 +done with dead letters/m)
    expect(r.stdout).toMatch(/^ {2}PIPELINE_STATE_URL +where the state is kept/m)
    expect(r.stdout).toMatch(/^ {2}BITRIX24_WEBHOOK_URL +/m)
    expect(r.stdout).not.toContain("--wizard")
    expect(r.stdout).not.toContain("--completions")
    expect(r.stdout).not.toContain("This setting is optional")
    // No command at all shows the same help.
    expect((await p.cli([])).stdout).toBe(r.stdout)
  })

  it("<command> --help shows its usage line with the program name, options, examples and environment", {
    timeout: TIMEOUT,
  }, async () => {
    const list = await p.cli(["list", "--help"], { env: { NO_COLOR: undefined } })
    expect(list.code).toBe(0)
    expect(list.stdout).not.toContain(ansi)
    expect(list.stdout).toContain("Usage:\n  pnpm pipeline list [--json]\n")
    expect(list.stdout).toContain("Examples:\n  pnpm pipeline list\n  pnpm pipeline list --json")
    expect(list.stdout).toMatch(/^ {2}PIPELINE_DIR +another directory of pipeline files/m)

    const run = await p.cli(["run", "crm", "--help"])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(
      "Usage:\n  pnpm pipeline run <pipeline> [--dry-run] [--limit <n>] [--full] [--entity <entity>]... [--accept-source-change] [--queue] [--state <url>] [--json]\n",
    )
    expect(run.stdout).toMatch(/^ {2}--limit <n> +read at most this many records per entity$/m)
    expect(run.stdout).toContain("  pnpm pipeline run migrate-legacy --dry-run --limit 100 --entity company")
    expect(run.stdout).toMatch(/^ {2}BITRIX24_WEBHOOK_URL /m)
    expect(run.stdout).toContain("A second Ctrl-C quits at once")
    expect(run.stdout).not.toContain("This setting is optional")

    const demo = await p.cli(["demo"])
    expect(demo.code).toBe(0)
    expect(demo.stdout).toMatch(/^ {2}demo seed +create and fill the demo legacy CRM/m)
  })
})

describe("pipeline usage errors (child process)", () => {
  it("an unknown command names the likely one", { timeout: TIMEOUT }, async () => {
    const r = await p.cli(["lst"])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr.trim()).toBe(
      'error: unknown command "lst"; did you mean "list"? (commands: init, list, plan, run, status, failures, retry, reset, relink, undo, verify, unlock, serve, worker, emulator, demo); see `pnpm pipeline --help`',
    )
  })

  it("an unknown option names the likely one and the command's options", { timeout: TIMEOUT }, async () => {
    const r = await p.cli(["run", "crm", "--lmit", "3"])
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe(
      "error: run has no option --lmit; did you mean --limit? (options: --dry-run, --limit, --full, --entity, --accept-source-change, --queue, --state, --json); see `pnpm pipeline run --help`",
    )
    const wizard = await p.cli(["list", "--wizard"])
    expect(wizard.code).toBe(1)
    expect(wizard.stderr.trim()).toBe(
      "error: list has no option --wizard (options: --json); see `pnpm pipeline list --help`",
    )
  })

  it("a wrong value names its option; with --json the error is also JSON on stdout", {
    timeout: TIMEOUT,
  }, async () => {
    const r = await p.cli(["run", "crm", "--limit", "abc"])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr.trim()).toBe("error: --limit: 'abc' is not an integer")
    const json = await p.cli(["failures", "crm", "--json", "--limit", "abc"])
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toEqual({
      error: { kind: "UsageError", message: "--limit: 'abc' is not an integer" },
    })
  })

  it("a missing pipeline argument says what to give", { timeout: TIMEOUT }, async () => {
    const r = await p.cli(["status"])
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe(
      "error: status needs <pipeline>: a pipeline's name (from pipelines/*.ts or PIPELINE_DIR) or the path of its file; see `pnpm pipeline status --help`",
    )
  })

  it("an option given as --name=value works, repeated ones too", { timeout: TIMEOUT }, async () => {
    const r = await p.cli(["run", "crm", "--dry-run", "--entity=company", "--limit=1", "--json"])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).entities).toMatchObject([{ entity: "company", read: 1 }])
  })
})
