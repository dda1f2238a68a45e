/**
 * Finds and loads pipeline definitions: TypeScript (or JavaScript) modules whose default export is
 * a `Pipeline`, in `PIPELINE_DIR` and in `pipelines/` of the working directory, or at a given path.
 * Modules are imported at run time; `.ts` files through tsx's loader, registered on the first one.
 */

import { existsSync, readdirSync, statSync } from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Pipeline from "@b24etl/core/Pipeline"
// node:fs rather than @effect/platform's FileSystem, and effect module by module: `list` loads this
// before any command, and @effect/platform's errors bring effect's Schema (about 0.2 s) with them.
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CliConfig from "./Config.js"
import { didYouMean } from "./internal/suggest.js"
import { prepareImport } from "./internal/typescript.js"

/** A pipeline, loaded and validated. */
export interface Loaded {
  /** The file it was loaded from, relative to the working directory when inside it. */
  readonly file: string
  /** How the user named it: the path when given by path, else its name; hints repeat it. */
  readonly reference: string
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
    const hint = didYouMean(this.name, this.available) || "; give a pipeline's name or the path of its file"
    return `no pipeline "${this.name}" in ${this.searched.join(", ")} (${found})${hint}`
  }
}

/** A pipeline file could not be imported (syntax error, missing module, a throw at load). */
export class LoadError extends Data.TaggedError("LoadError")<{
  readonly file: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** Two files define pipelines of the same name: which one a name means cannot be told. */
export class DuplicatePipeline extends Data.TaggedError("DuplicatePipeline")<{
  readonly name: string
  readonly files: ReadonlyArray<string>
}> {
  override get message(): string {
    return `pipeline "${this.name}" is defined in ${this.files.length} files: ${this.files.join(" and ")}; rename one (a pipeline's name keys its state, so each name must be unique)`
  }
}

export type LoadFailure = LoadError | Pipeline.DefinitionError | DuplicatePipeline

const EXTENSIONS = [".ts", ".mts", ".js", ".mjs"]

const isPipelineFile = (name: string) =>
  EXTENSIONS.some((e) => name.endsWith(e)) &&
  !name.endsWith(".d.ts") &&
  !/\.(test|spec)\.[mc]?[jt]s$/.test(name)

/** An argument that names a file rather than a pipeline: it has a slash or a module extension. */
export const isPath = (nameOrPath: string): boolean =>
  nameOrPath.includes("/") || nameOrPath.includes("\\") || EXTENSIONS.some((e) => nameOrPath.endsWith(e))

/** `file:line:column` in an esbuild report line (`/abs/x.ts:3:19: ERROR: Unexpected "}"`). */
const esbuildLine = /^(.*):(\d+):(\d+): (?:ERROR|error): (.*)$/

interface EsbuildMessage {
  readonly text?: unknown
  readonly location?: { readonly file?: unknown; readonly line?: unknown; readonly column?: unknown } | null
}

/**
 * Why a file did not import, with where: a syntax error as `file:line:column: reason` (from
 * esbuild's `errors[].location`, or its message when the loader thread passed only the text);
 * an error thrown while the module ran, with the line of the file it was thrown from.
 */
export const loadErrorMessage = (cause: unknown, absolute: string, shown: string): string => {
  const at = (line: unknown, column: unknown) => `${shown}:${String(line)}:${String(column)}`
  const errors = (cause as { errors?: unknown } | null)?.errors
  if (Array.isArray(errors) && errors.length > 0) {
    const first = errors[0] as EsbuildMessage
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ""
    if (first.location != null && typeof first.location.line === "number")
      // esbuild's columns count from 0; editors count from 1.
      return `${at(first.location.line, Number(first.location.column ?? 0) + 1)}: ${String(first.text)}${more}`
  }
  const message = cause instanceof Error ? cause.message : String(cause)
  const lines = message.split("\n")
  if (/^Transform failed with \d+ errors?:/.test(lines[0] ?? "")) {
    const reported = lines.slice(1).flatMap((l) => {
      const m = esbuildLine.exec(l.trim())
      return m === null ? [] : [m]
    })
    if (reported.length > 0) {
      const [, , line, column, text] = reported[0]!
      const more = reported.length > 1 ? ` (and ${reported.length - 1} more)` : ""
      return `${at(line, Number(column) + 1)}: ${text}${more}`
    }
  }
  const first = lines.find((l) => l.trim() !== "") ?? message
  const stack = cause instanceof Error ? (cause.stack ?? "") : ""
  const frame = stack
    .split("\n")
    .map((l) => /(?:file:\/\/)?(\/[^\s():]+):(\d+)(?::(\d+))?/.exec(l))
    .find((m) => m !== null && (m[1] === absolute || decodeURI(m[1]!) === absolute))
  return frame == null ? `${shown}: ${first}` : `${at(frame[2], frame[3] ?? 1)}: ${first}`
}

/** The directories searched, in order: `PIPELINE_DIR` when set, then `pipelines/`; only existing ones. */
export const directories: Effect.Effect<ReadonlyArray<string>> = Effect.gen(function* () {
  const configured = yield* CliConfig.pipelineDir.pipe(Effect.orElseSucceed(() => Option.none<string>()))
  const candidates = [...Option.toArray(configured), "pipelines"].map((d) => path.resolve(d))
  const unique = [...new Set(candidates)]
  const existing: Array<string> = []
  for (const dir of unique)
    if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() === true) existing.push(dir)
  return existing
})

const display = (file: string) => {
  const relative = path.relative(path.resolve("."), file)
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative
}

/** Imports one file and validates its pipeline. */
export const loadFile = (file: string): Effect.Effect<Loaded, LoadFailure> =>
  Effect.gen(function* () {
    const absolute = path.resolve(file)
    const shown = display(absolute)
    if (!existsSync(absolute))
      return yield* new LoadError({ file: shown, message: `${shown} does not exist` })
    const module = yield* Effect.tryPromise({
      try: () => prepareImport(absolute).then(() => import(pathToFileURL(absolute).href) as Promise<unknown>),
      catch: (cause) =>
        new LoadError({
          file: shown,
          message: `cannot load ${loadErrorMessage(cause, absolute, shown)}`,
          cause,
        }),
    })
    const pipeline = yield* Pipeline.fromModule(shown, module)
    const order = yield* Pipeline.validate(pipeline)
    return { file: shown, reference: file, pipeline, order }
  })

/** Every pipeline file of the searched directories, sorted by file name. */
export const files: Effect.Effect<ReadonlyArray<string>> = Effect.gen(function* () {
  const out: Array<string> = []
  for (const dir of yield* directories) {
    const names = yield* Effect.try(() => readdirSync(dir)).pipe(
      Effect.orElseSucceed(() => [] as Array<string>),
    )
    for (const name of names.filter(isPipelineFile).sort()) out.push(path.join(dir, name))
  }
  return out
})

/** One file's outcome in `loadAll`: its pipeline, or why it did not load. */
export type Entry =
  | { readonly _tag: "Loaded"; readonly loaded: Loaded }
  | { readonly _tag: "Failed"; readonly file: string; readonly error: LoadFailure }

/**
 * Loads every pipeline file; a file that fails does not stop the others. Files whose pipelines
 * share a name all fail, each naming the others: a name must say which pipeline it means.
 */
export const loadAll: Effect.Effect<ReadonlyArray<Entry>> = Effect.gen(function* () {
  const entries: Array<Entry> = []
  for (const file of yield* files) {
    const result = yield* Effect.either(loadFile(file))
    entries.push(
      result._tag === "Right"
        ? { _tag: "Loaded", loaded: { ...result.right, reference: result.right.pipeline.name } }
        : { _tag: "Failed", file: display(file), error: result.left },
    )
  }
  const filesOf = new Map<string, Array<string>>()
  for (const e of entries) {
    if (e._tag === "Loaded")
      filesOf.set(e.loaded.pipeline.name, [...(filesOf.get(e.loaded.pipeline.name) ?? []), e.loaded.file])
  }
  return entries.map((e): Entry => {
    if (e._tag !== "Loaded") return e
    const same = filesOf.get(e.loaded.pipeline.name) ?? []
    return same.length < 2
      ? e
      : {
          _tag: "Failed",
          file: e.loaded.file,
          error: new DuplicatePipeline({ name: e.loaded.pipeline.name, files: same }),
        }
  })
})

/**
 * Loads a pipeline by name or path. A name is looked up among every file's pipeline names, so a
 * file may hold a pipeline named differently from itself; a file named after the pipeline that
 * does not load gives its error.
 */
export const load = (nameOrPath: string): Effect.Effect<Loaded, LoadFailure | PipelineNotFound> =>
  Effect.gen(function* () {
    if (isPath(nameOrPath)) return yield* loadFile(nameOrPath)
    const dirs = yield* directories
    const all = yield* loadAll
    for (const e of all) {
      if (e._tag === "Loaded" && e.loaded.pipeline.name === nameOrPath) return e.loaded
      if (e._tag === "Failed" && e.error._tag === "DuplicatePipeline" && e.error.name === nameOrPath)
        return yield* e.error
    }
    const named = all.find(
      (e) => e._tag === "Failed" && EXTENSIONS.some((ext) => path.basename(e.file) === `${nameOrPath}${ext}`),
    )
    if (named?._tag === "Failed") return yield* named.error
    return yield* new PipelineNotFound({
      name: nameOrPath,
      searched: dirs.map((d) => display(d)),
      available: [
        ...new Set(
          all.flatMap((e) =>
            e._tag === "Loaded"
              ? [e.loaded.pipeline.name]
              : e.error._tag === "DuplicatePipeline"
                ? [e.error.name]
                : [],
          ),
        ),
      ],
    })
  })
