/**
 * Checks a command line against `Commands.ts` before @effect/cli parses it, so that a mistake is
 * told in the user's terms: the command or option that is unknown and the one likely meant, the
 * option whose value is wrong (`--limit: 'abc' is not an integer`), the argument missing. It
 * also answers `--help` anywhere on the line with that command's help.
 */
import * as Commands from "./Commands.js"
import * as Help from "./Help.js"
import { didYouMean } from "./internal/suggest.js"

/** What to do with a command line. */
export type Checked =
  /** Print this help and exit 0. */
  | { readonly _tag: "Help"; readonly text: string }
  /** Refuse it: print the message (and, for a `--json` command, the error as JSON) and exit 1. */
  | { readonly _tag: "Invalid"; readonly message: string; readonly json: boolean }
  /** Let @effect/cli parse and run it: `args` with `--name=value` given as `--name value`. */
  | { readonly _tag: "Valid"; readonly args: ReadonlyArray<string> }

const names = Commands.commands.map((c) => c.name.split(" ")[0]!).filter((n, i, all) => all.indexOf(n) === i)

const isInteger = (text: string) => /^-?\d+$/.test(text)
const isNumber = (text: string) => text.trim() !== "" && Number.isFinite(Number(text))

const checkLogLevel = (level: string | undefined): string | undefined =>
  level !== undefined && Commands.logLevels.includes(level)
    ? undefined
    : `--log-level: ${level === undefined ? "needs a value" : `'${level}' is not a level${didYouMean(level, Commands.logLevels)}`} (levels: ${Commands.logLevels.join(", ")})`

// @effect/cli takes `--name=value` for single options but not for repeated ones (`--entity=a`).
const splitValues = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const end = args.indexOf("--")
  return args.flatMap((word, n) =>
    (end === -1 || n < end) && word.startsWith("--") && word.includes("=")
      ? [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)]
      : [word],
  )
}

/** Checks `args` (the command line after the program: `["run", "crm", "--limit", "5"]`). */
export const check = (args: ReadonlyArray<string>, program: string): Checked => {
  const json = args.includes("--json")
  const invalid = (message: string): Checked => ({ _tag: "Invalid", message, json })
  const end = args.indexOf("--")
  const options = end === -1 ? args : args.slice(0, end)
  const wantsHelp = options.includes("--help") || options.includes("-h")

  // The command: the first word that is no option (global options may come before it).
  let i = 0
  for (; i < args.length && args[i]!.startsWith("-") && args[i] !== "--"; i++) {
    const word = args[i]!
    if (word === "-h" || word === "--help" || word === "--version") continue
    if (word === "--log-level" || word.startsWith("--log-level=")) {
      const level = word.includes("=") ? word.slice(word.indexOf("=") + 1) : args[++i]
      const bad = checkLogLevel(level)
      if (bad !== undefined) return invalid(bad)
      continue
    }
    return invalid(
      `unknown option ${word} before the command; a command's options go after it: \`${program} <command> [options]\`, see \`${program} --help\``,
    )
  }
  const first = args[i]
  if (first === undefined || first === "--") {
    if (options.includes("--version") && !wantsHelp) return { _tag: "Valid", args: splitValues(args) }
    return { _tag: "Help", text: Help.main(program) }
  }
  if (!names.includes(first)) {
    return invalid(
      `unknown command "${first}"${didYouMean(first, names)} (commands: ${names.join(", ")}); see \`${program} --help\``,
    )
  }
  let spec = Commands.find(first)!
  let rest = args.slice(i + 1)
  if (spec.subcommands !== undefined) {
    const sub = rest.find((a) => !a.startsWith("-"))
    const known = spec.subcommands.map((s) => s.split(" ")[1]!)
    if (sub === undefined) return { _tag: "Help", text: Help.command(program, spec) }
    if (!known.includes(sub)) {
      return invalid(
        `unknown command "${first} ${sub}"${didYouMean(`${first} ${sub}`, spec.subcommands)} (commands: ${spec.subcommands.join(", ")}); see \`${program} ${first} --help\``,
      )
    }
    spec = Commands.find(`${first} ${sub}`)!
    const at = rest.indexOf(sub)
    rest = [...rest.slice(0, at), ...rest.slice(at + 1)]
  }
  if (wantsHelp) return { _tag: "Help", text: Help.command(program, spec) }

  const see = `see \`${program} ${spec.name} --help\``
  const optionNames = spec.options.map((o) => `--${o.name}`)
  const seen = new Set<string>()
  const positional: Array<string> = []
  for (let n = 0; n < rest.length; n++) {
    const word = rest[n]!
    if (word === "--") {
      positional.push(...rest.slice(n + 1))
      break
    }
    if (!word.startsWith("-") || word === "-") {
      positional.push(word)
      continue
    }
    const eq = word.indexOf("=")
    const name = eq === -1 ? word : word.slice(0, eq)
    const inline = eq === -1 ? undefined : word.slice(eq + 1)
    if (name === "--version") continue
    if (name === "--log-level") {
      const bad = checkLogLevel(inline ?? rest[++n])
      if (bad !== undefined) return invalid(bad)
      continue
    }
    const option = spec.options.find((o) => `--${o.name}` === name)
    if (option === undefined) {
      return invalid(
        `${spec.name} has no option ${name}${didYouMean(name, optionNames, "")}${optionNames.length === 0 ? " (it takes none)" : ` (options: ${optionNames.join(", ")})`}; ${see}`,
      )
    }
    if (seen.has(option.name) && option.repeatable !== true)
      return invalid(`${name} is given twice; it takes one value`)
    seen.add(option.name)
    if (option.kind === "flag") {
      if (inline !== undefined) return invalid(`${name} takes no value (given "${inline}")`)
      continue
    }
    const value = inline ?? rest[++n]
    const expected = { integer: "an integer", number: "a number", text: "a value" }[option.kind]
    if (value === undefined || (inline === undefined && value.startsWith("--")))
      return invalid(`${name} needs ${expected}: ${name} ${option.value ?? ""}`.trimEnd())
    if (option.kind === "integer" && !isInteger(value))
      return invalid(`${name}: '${value}' is not an integer`)
    if (option.kind === "number" && !isNumber(value)) return invalid(`${name}: '${value}' is not a number`)
  }

  const argument = spec.argument
  if (argument === undefined) {
    if (positional.length > 0)
      return invalid(`${spec.name} takes no argument (given "${positional[0]}"); ${see}`)
  } else if (argument.count === "optional") {
    if (positional.length > 1)
      return invalid(
        `${spec.name} takes at most one ${argument.name}, given ${positional.length}: ${positional.join(" ")}; ${see}`,
      )
  } else if (argument.count === "one") {
    if (positional.length === 0)
      return invalid(`${spec.name} needs ${argument.name}: ${argument.description}; ${see}`)
    if (positional.length > 1)
      return invalid(
        `${spec.name} takes one ${argument.name}, given ${positional.length}: ${positional.join(" ")}; ${see}`,
      )
  }
  return { _tag: "Valid", args: splitValues(args) }
}
