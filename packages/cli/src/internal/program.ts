/**
 * How the program is called and how it ends: what `bin.ts` and the help need before any command
 * is loaded, kept apart from the commands so `--help` and a mistyped line load little.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"

/**
 * How users run the command, for the help and the hints printed after a run: `pnpm pipeline` in a
 * clone of the repository, `npx pipeline` in a project that installed b24etl (its bin sets it).
 */
export const invocation = process.env.B24ETL_PROGRAM ?? "pnpm pipeline"

/** The exit code the process ends with; `bin.ts` reads it when the program ends, even when interrupted. */
export class ExitCode extends Context.Tag("@b24etl/cli/ExitCode")<ExitCode, Ref.Ref<number | undefined>>() {
  static readonly make = (): Ref.Ref<number | undefined> => Ref.unsafeMake<number | undefined>(undefined)
}

export const setExitCode = (code: number) => Effect.flatMap(ExitCode, (ref) => Ref.set(ref, code))
