/**
 * How log lines (a pipeline's, a library's, the runner's warnings) are printed on stderr: the
 * time, the level and the message, and the cause when there is one. No fiber ids (`INFO (#28)`):
 * they mean nothing to a user.
 */
// Module by module, not the `effect` barrel: `--help` must not load Schema and the rest.
import * as Cause from "effect/Cause"
import * as Logger from "effect/Logger"

const text = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts
    .map((m) => (typeof m === "string" ? m : m instanceof Error ? m.message : JSON.stringify(m)))
    .join(" ")
}

/** One line per log entry: `2026-11-27T04:04:00.000Z WARN renewing lock … failed, retrying`. */
export const format = (entry: {
  readonly date: Date
  readonly level: string
  readonly message: unknown
  readonly cause: Cause.Cause<unknown>
}): string => {
  const cause = Cause.isEmpty(entry.cause) ? "" : `\n${Cause.pretty(entry.cause)}`
  return `${entry.date.toISOString()} ${entry.level} ${text(entry.message)}${cause}`
}

/** The logger `bin.ts` installs in place of Effect's default. */
export const logger = (write: (line: string) => void) =>
  Logger.make(({ date, logLevel, message, cause }) =>
    write(`${format({ date, level: logLevel.label, message, cause })}\n`),
  )
