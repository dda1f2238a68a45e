/**
 * Finds and loads pipeline definitions: TypeScript (or JavaScript) modules whose default export is
 * a `Pipeline`, in `PIPELINE_DIR` and in `pipelines/` of the working directory, or at a given path.
 * Modules are imported at run time (the command runs under tsx, so `.ts` files load as they are).
 */

import { pathToFileURL } from "node:url"
import * as Pipeline from "@b24etl/core/Pipeline"
import { FileSystem, Path } from "@effect/platform"
import { Data, Effect, Option } from "effect"
import * as CliConfig from "./Config.js"

/** A pipeline, loaded and validated. */
export interface Loaded {
  /** The file it was loaded from, relative to the working directory when inside it. */
  readonly file: string
  readonly pipeline: Pipeline.Pipeline
  /** Its entities in the order they are written. */
  readonly order: ReadonlyArray<string>
}

/** No pipeline of that name in the searched directories. */
export class PipelineNotFound extends Data.TaggedError("PipelineNotFound")<{
  readonly name: string
  readonly searched: ReadonlyArray<string>
  readonly available: ReadonlyArray<string>
}> {
  override get message(): string {
    if (this.searched.length === 0) {
      return `no pipeline "${this.name}": there is no pipelines/ directory here and PIPELINE_DIR is not set; run from the project root or give the path of the pipeline's file`
    }
    const found = this.available.length === 0 ? "none found" : `found: ${this.available.join(", ")}`
    return `no pipeline "${this.name}" in ${this.searched.join(", ")} (${found}); give a pipeline's name or the path of its file`
  }
}

/** A pipeline file could not be imported (syntax error, missing module, a throw at load). */
export class LoadError extends Data.TaggedError("LoadError")<{
  readonly file: string
  readonly message: string
  readonly cause?: unknown
}> {}

export type LoadFailure = LoadError | Pipeline.DefinitionError

const EXTENSIONS = [".ts", ".mts", ".js", ".mjs"]

const isPipelineFile = (name: string) =>
  EXTENSIONS.some((e) => name.endsWith(e)) &&
  !name.endsWith(".d.ts") &&
  !/\.(test|spec)\.[mc]?[jt]s$/.test(name)

/** An argument that names a file rather than a pipeline: it has a slash or a module extension. */
export const isPath = (nameOrPath: string): boolean =>
  nameOrPath.includes("/") || nameOrPath.includes("\\") || EXTENSIONS.some((e) => nameOrPath.endsWith(e))

const errorMessage = (e: unknown): string => {
  if (e instanceof Error) return e.message.split("\n")[0] ?? e.message
  return String(e)
}

/** The directories searched, in order: `PIPELINE_DIR` when set, then `pipelines/`; only existing ones. */
export const directories: Effect.Effect<
  ReadonlyArray<string>,
  never,
  FileSystem.FileSystem | Path.Path
> = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const configured = yield* CliConfig.pipelineDir.pipe(Effect.orElseSucceed(() => Option.none<string>()))
  const candidates = [...Option.toArray(configured), "pipelines"].map((d) => path.resolve(d))
  const unique = [...new Set(candidates)]
  const existing: Array<string> = []
  for (const dir of unique) {
    const info = yield* fs.stat(dir).pipe(Effect.option)
    if (Option.isSome(info) && info.value.type === "Directory") existing.push(dir)
  }
  return existing
})

const display = (path: Path.Path, file: string) => {
  const relative = path.relative(path.resolve("."), file)
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative
}

/** Imports one file and validates its pipeline. */
export const loadFile = (
  file: string,
): Effect.Effect<Loaded, LoadFailure, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const absolute = path.resolve(file)
    const shown = display(path, absolute)
    const exists = yield* fs.exists(absolute).pipe(Effect.orElseSucceed(() => false))
    if (!exists) return yield* new LoadError({ file: shown, message: `${shown} does not exist` })
    const module = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(absolute).href) as Promise<unknown>,
      catch: (cause) =>
        new LoadError({ file: shown, message: `cannot load ${shown}: ${errorMessage(cause)}`, cause }),
    })
    const pipeline = yield* Pipeline.fromModule(shown, module)
    const order = yield* Pipeline.validate(pipeline)
    return { file: shown, pipeline, order }
  })

/** Every pipeline file of the searched directories, sorted by file name. */
export const files: Effect.Effect<
  ReadonlyArray<string>,
  never,
  FileSystem.FileSystem | Path.Path
> = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const out: Array<string> = []
  for (const dir of yield* directories) {
    const names = yield* fs.readDirectory(dir).pipe(Effect.orElseSucceed(() => [] as Array<string>))
    for (const name of names.filter(isPipelineFile).sort()) out.push(path.join(dir, name))
  }
  return out
})

/** One file's outcome in `loadAll`: its pipeline, or why it did not load. */
export type Entry =
  | { readonly _tag: "Loaded"; readonly loaded: Loaded }
  | { readonly _tag: "Failed"; readonly file: string; readonly error: LoadFailure }

/** Loads every pipeline file; a file that fails does not stop the others. */
export const loadAll: Effect.Effect<
  ReadonlyArray<Entry>,
  never,
  FileSystem.FileSystem | Path.Path
> = Effect.gen(function* () {
  const path = yield* Path.Path
  const entries: Array<Entry> = []
  for (const file of yield* files) {
    const result = yield* Effect.either(loadFile(file))
    entries.push(
      result._tag === "Right"
        ? { _tag: "Loaded", loaded: result.right }
        : { _tag: "Failed", file: display(path, file), error: result.left },
    )
  }
  return entries
})

/**
 * Loads a pipeline by name or path. A name is looked up as `<dir>/<name>.ts` first, then among
 * every file's pipeline names, so a file may hold a pipeline named differently from itself.
 */
export const load = (
  nameOrPath: string,
): Effect.Effect<Loaded, LoadFailure | PipelineNotFound, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    if (isPath(nameOrPath)) return yield* loadFile(nameOrPath)
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dirs = yield* directories
    for (const dir of dirs) {
      for (const ext of EXTENSIONS) {
        const file = path.join(dir, `${nameOrPath}${ext}`)
        if (yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false))) {
          const loaded = yield* Effect.either(loadFile(file))
          // A file named after the pipeline that holds another one: keep looking by pipeline name.
          if (loaded._tag === "Left" || loaded.right.pipeline.name === nameOrPath) return yield* loaded
        }
      }
    }
    const all = yield* loadAll
    const match = all.find((e) => e._tag === "Loaded" && e.loaded.pipeline.name === nameOrPath)
    if (match?._tag === "Loaded") return match.loaded
    return yield* new PipelineNotFound({
      name: nameOrPath,
      searched: dirs.map((d) => display(path, d)),
      available: all.flatMap((e) => (e._tag === "Loaded" ? [e.loaded.pipeline.name] : [])),
    })
  })
