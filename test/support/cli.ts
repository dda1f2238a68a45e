import { type ChildProcess, spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

/** The repository root: where `pnpm pipeline` runs and `pipelines/` is found. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

/** tsx's loader by absolute URL, so the command runs from any working directory. */
const tsxLoader = pathToFileURL(join(root, "node_modules/tsx/dist/loader.mjs")).href

export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Starts `pipeline <args>` as a real process, as a user would (`pnpm pipeline ...`). */
export const start = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  cwd: string = root,
): { readonly child: ChildProcess; readonly done: Promise<Finished>; readonly output: () => string } => {
  const child = spawn(
    process.execPath,
    ["--import", tsxLoader, join(root, "packages/cli/src/bin.ts"), ...args],
    {
      cwd,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  )
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
  const done = new Promise<Finished>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  )
  return { child, done, output: () => stdout + stderr }
}
