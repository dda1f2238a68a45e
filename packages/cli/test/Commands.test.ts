import { Command, HelpDoc, Usage } from "@effect/cli"
import { describe, expect, it } from "vitest"
import * as Argv from "../src/Argv.js"
import * as Commands from "../src/Commands.js"
import { demoSeed } from "../src/commands/demo.js"
import { emulator } from "../src/commands/emulator.js"
import { failures } from "../src/commands/failures.js"
import { init } from "../src/commands/init.js"
import { list } from "../src/commands/list.js"
import { plan } from "../src/commands/plan.js"
import { relink } from "../src/commands/relink.js"
import { reset } from "../src/commands/reset.js"
import { retry } from "../src/commands/retry.js"
import { run } from "../src/commands/run.js"
import { serve } from "../src/commands/serve.js"
import { status } from "../src/commands/status.js"
import { undo } from "../src/commands/undo.js"
import { unlock } from "../src/commands/unlock.js"
import { verify } from "../src/commands/verify.js"
import { worker } from "../src/commands/worker.js"

const parsers: Record<string, Command.Command<string, never, unknown, unknown>> = {
  init,
  list,
  plan,
  run,
  status,
  failures,
  retry,
  reset,
  unlock,
  relink,
  undo,
  verify,
  serve,
  worker,
  emulator,
  "demo seed": demoSeed,
} as unknown as Record<string, Command.Command<string, never, unknown, unknown>>

const kinds: Record<string, Commands.ValueKind> = { integer: "integer", float: "number", text: "text" }

/** What @effect/cli parses, from its usage line: `run [--dry-run] [--limit integer] --entity text... <pipeline>`. */
const parsed = (command: Command.Command<string, never, unknown, unknown>) => {
  const line = HelpDoc.toAnsiText(Usage.getHelp(Command.getUsage(command))).trim()
  const options = [...line.matchAll(/--([a-z-]+)(?: (integer|float|text))?(\.\.\.)?/g)].map((m) => ({
    name: m[1]!,
    kind: m[2] === undefined ? "flag" : kinds[m[2]]!,
    repeatable: m[3] !== undefined,
  }))
  const argument = /(\[)?<([a-z]+)>(\]|\.\.\.)?/.exec(line)
  return {
    options,
    argument:
      argument === null
        ? undefined
        : {
            name: `<${argument[2]}>`,
            count: argument[3] === "..." ? "any" : argument[1] === "[" ? "optional" : "one",
          },
  }
}

describe("Commands", () => {
  it("says what @effect/cli parses: every command's options, their kinds, and its argument", () => {
    const specified = Commands.commands.filter((c) => c.subcommands === undefined)
    expect(specified.map((c) => c.name).sort()).toEqual(Object.keys(parsers).sort())
    for (const spec of specified) {
      const actual = parsed(parsers[spec.name]!)
      expect(
        spec.options.map((o) => ({ name: o.name, kind: o.kind, repeatable: o.repeatable === true })),
        spec.name,
      ).toEqual(actual.options)
      expect(
        spec.argument === undefined ? undefined : { name: spec.argument.name, count: spec.argument.count },
        spec.name,
      ).toEqual(actual.argument)
    }
  })
})

describe("Argv.check", () => {
  const check = (line: string) => Argv.check(line === "" ? [] : line.split(" "), "pnpm pipeline")
  const message = (line: string) => {
    const r = check(line)
    return r._tag === "Invalid" ? r.message : r._tag
  }

  it("lets correct lines through to the parser", () => {
    for (const line of [
      "list",
      "list --json",
      "run crm --dry-run --limit 5 --entity a --entity b --state /tmp/s --json",
      "run --limit=5 crm",
      "run crm --entity=company",
      "run crm --log-level debug",
      "--log-level debug status crm",
      "serve",
      "serve a b --lease-ms 1000",
      "worker --pipelines a,b --concurrency 2",
      "run crm --queue --full",
      "emulator --rate 0.5 --burst 0",
      "demo seed --companies 10 --reset",
      "run -- -odd-name.ts",
      "--version",
      "init",
      "init my-crm",
    ]) {
      expect(check(line)._tag, line).toBe("Valid")
    }
    expect(check("reset crm --entity=a --entity b --yes")).toEqual({
      _tag: "Valid",
      args: ["reset", "crm", "--entity", "a", "--entity", "b", "--yes"],
    })
  })

  it("answers --help anywhere with that command's help, and no command with the main help", () => {
    for (const line of ["", "--help", "-h", "run --help", "run crm --limit x -h", "demo", "demo seed --help"])
      expect(check(line)._tag, line).toBe("Help")
    const run = check("run crm --help")
    expect(run._tag === "Help" && run.text).toContain("Usage:\n  pnpm pipeline run <pipeline>")
  })

  it("names the unknown command or option and the one likely meant", () => {
    expect(message("lst")).toBe(
      'unknown command "lst"; did you mean "list"? (commands: init, list, plan, run, status, failures, retry, reset, relink, undo, verify, unlock, serve, worker, emulator, demo); see `pnpm pipeline --help`',
    )
    expect(message("statsu crm")).toContain('did you mean "status"?')
    expect(message("frobnicate")).not.toContain("did you mean")
    expect(message("demo sed")).toContain('did you mean "demo seed"?')
    expect(message("run crm --lmit 3")).toBe(
      "run has no option --lmit; did you mean --limit? (options: --dry-run, --limit, --full, --entity, --accept-source-change, --queue, --state, --json); see `pnpm pipeline run --help`",
    )
    expect(message("list --wizard")).toBe(
      "list has no option --wizard (options: --json); see `pnpm pipeline list --help`",
    )
    expect(message("--json list")).toContain("unknown option --json before the command")
  })

  it("names the option whose value is wrong", () => {
    expect(message("run crm --limit abc")).toBe("--limit: 'abc' is not an integer")
    expect(message("run crm --limit=1.5")).toBe("--limit: '1.5' is not an integer")
    expect(message("emulator --rate fast")).toBe("--rate: 'fast' is not a number")
    expect(message("failures crm --limit")).toBe("--limit needs an integer: --limit <n>")
    expect(message("run crm --state --json")).toBe("--state needs a value: --state <url>")
    expect(message("run crm --dry-run=yes")).toBe('--dry-run takes no value (given "yes")')
    expect(message("status crm --runs 1 --runs 2")).toBe("--runs is given twice; it takes one value")
    expect(message("list --log-level loud")).toBe(
      "--log-level: 'loud' is not a level (levels: all, trace, debug, info, warning, error, fatal, none)",
    )
  })

  it("names the missing or extra argument", () => {
    expect(message("run")).toBe(
      "run needs <pipeline>: a pipeline's name (from pipelines/*.ts or PIPELINE_DIR) or the path of its file; see `pnpm pipeline run --help`",
    )
    expect(message("status a b")).toBe(
      "status takes one <pipeline>, given 2: a b; see `pnpm pipeline status --help`",
    )
    expect(message("init a b")).toBe(
      "init takes at most one <dir>, given 2: a b; see `pnpm pipeline init --help`",
    )
    expect(message("list crm")).toBe('list takes no argument (given "crm"); see `pnpm pipeline list --help`')
  })

  it("marks a refusal of a --json command so it is also printed as JSON", () => {
    expect(check("run crm --json --limit x")).toMatchObject({ _tag: "Invalid", json: true })
    expect(check("run crm --limit x")).toMatchObject({ _tag: "Invalid", json: false })
  })
})
