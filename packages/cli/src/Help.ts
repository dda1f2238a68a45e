/**
 * The `--help` text, rendered from `Commands.ts`: usage lines with the program name, what each
 * option takes, examples, the environment variables that apply. Plain text, no ANSI codes, so it
 * reads the same in a terminal, a pipe or a file. (@effect/cli's own help drops the program name,
 * calls every option "optional", offers `--wizard` and colours piped output, so it is not used.)
 */
import * as Commands from "./Commands.js"

const width = 100

/** Wraps `text` to `width` columns, every line after the first indented by `indent` spaces. */
const wrap = (text: string, indent: number): string => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(/\s+/)) {
    if (line !== "" && indent + line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  lines.push(line)
  return lines.join(`\n${" ".repeat(indent)}`)
}

/** Two columns: terms padded to the longest, descriptions wrapped beside them. */
const columns = (rows: ReadonlyArray<readonly [string, string]>): string => {
  const left = Math.min(28, Math.max(...rows.map(([term]) => term.length)))
  return rows
    .map(([term, text]) =>
      term.length > left
        ? `  ${term}\n${" ".repeat(left + 4)}${wrap(text, left + 4)}`
        : `  ${term.padEnd(left)}  ${wrap(text, left + 4)}`,
    )
    .join("\n")
}

const optionTerm = (o: Commands.OptionSpec): string =>
  `${o.name === "help" ? "-h, " : ""}--${o.name}${o.value === undefined ? "" : ` ${o.value}`}`

/** The usage line of a command: `pnpm pipeline run <pipeline> [--dry-run] [--limit <n>] …`. */
export const usage = (program: string, spec: Commands.CommandSpec): string => {
  if (spec.subcommands !== undefined) return `${program} ${spec.name} <command> [options]`
  const parts = [program, spec.name]
  if (spec.argument !== undefined)
    parts.push(
      spec.argument.count === "one"
        ? spec.argument.name
        : spec.argument.count === "optional"
          ? `[${spec.argument.name}]`
          : `[${spec.argument.name}...]`,
    )
  for (const o of spec.options) parts.push(`[${optionTerm(o)}]${o.repeatable === true ? "..." : ""}`)
  return parts.join(" ")
}

const section = (title: string, body: string): string => `${title}:\n${body}`

const environmentSection = (names: ReadonlyArray<Commands.EnvironmentName>): string =>
  section(
    "Environment (also read from .env in the working directory)",
    columns(names.map((n) => [n, Commands.environment[n]])),
  )

/** `pnpm pipeline --help`: every command, the global options, examples, exit codes, environment. */
export const main = (program: string): string =>
  [
    `${program} — declarative, exactly-once ETL pipelines from legacy CRMs into Bitrix24`,
    section("Usage", `  ${program} <command> [options]\n  ${program} <command> --help`),
    section(
      "Commands",
      columns(Commands.commands.filter((c) => c.subcommands === undefined).map((c) => [c.name, c.summary])),
    ),
    section("Options", columns(Commands.globalOptions.map((o) => [optionTerm(o), o.description]))),
    section(
      "Examples",
      [
        "list",
        "plan migrate-legacy",
        "run migrate-legacy",
        "status migrate-legacy",
        "run ./pipelines/my-crm.ts --dry-run --limit 100",
      ]
        .map((e) => `  ${program} ${e}`)
        .join("\n"),
    ),
    section(
      "Exit codes",
      columns([
        ["0", "done"],
        ["1", "failed, refused or interrupted (nothing is lost: run again to resume)"],
        ["2", "done with dead letters (see the failures command)"],
      ]),
    ),
    environmentSection(Object.keys(Commands.environment) as Array<Commands.EnvironmentName>),
  ].join("\n\n")

/** `pnpm pipeline <command> --help`. */
export const command = (program: string, spec: Commands.CommandSpec): string => {
  const parts = [`${program} ${spec.name} — ${spec.summary}`, section("Usage", `  ${usage(program, spec)}`)]
  for (const d of spec.details ?? []) parts.push(wrap(d, 0))
  if (spec.subcommands !== undefined) {
    parts.push(
      section(
        "Commands",
        columns(
          spec.subcommands.flatMap((name) => {
            const sub = Commands.find(name)
            return sub === undefined ? [] : [[name, sub.summary] as const]
          }),
        ),
      ),
    )
  }
  if (spec.argument !== undefined) {
    const term = spec.argument.count === "any" ? `${spec.argument.name}...` : spec.argument.name
    parts.push(section("Arguments", columns([[term, spec.argument.description]])))
  }
  const options = [...spec.options, ...Commands.globalOptions.filter((o) => o.name === "help")]
  parts.push(
    section(
      "Options",
      columns(
        options.map((o) => [
          optionTerm(o),
          `${o.description}${o.repeatable === true && !o.description.includes("repeat") ? " (repeatable)" : ""}`,
        ]),
      ),
    ),
  )
  parts.push(section("Examples", spec.examples.map((e) => `  ${program} ${e}`).join("\n")))
  if (spec.environment.length > 0) parts.push(environmentSection(spec.environment))
  return parts.join("\n\n")
}
