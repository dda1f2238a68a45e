/**
 * Lets `import()` load the user's TypeScript pipeline files. The command itself runs as compiled
 * JavaScript; tsx's loader (esbuild) is registered only when the first `.ts` file is loaded, so
 * `--help` and commands that load no pipeline never pay for it.
 */

const typescriptFile = /\.[mc]?tsx?$/

let registered: Promise<void> | undefined

/** Registers tsx's loader hooks once, before `file` is imported, when it is a TypeScript file. */
export const prepareImport = (file: string): Promise<void> => {
  if (!typescriptFile.test(file)) return Promise.resolve()
  // Run from source (`node --import tsx packages/cli/src/bin.ts`), tsx is registered already.
  if (import.meta.url.endsWith(".ts")) return Promise.resolve()
  registered ??= import("tsx/esm/api").then(({ register }) => {
    register()
  })
  return registered
}
