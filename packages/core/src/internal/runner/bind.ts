import { Effect, Option } from "effect"
import * as Pipeline from "../../Pipeline.js"
import type * as Sink from "../../Sink.js"
import type * as Source from "../../Source.js"
import type { Binding, StateStore, StateStoreError } from "../../StateStore.js"

/**
 * The binding stage: a pipeline's state belongs to one target (a Bitrix24 portal and the webhook
 * user or app that writes) and to its sources. It runs after connecting and before anything is
 * read or written: the first run records the binding; a run against another target stops, naming
 * both and the ways out; a changed source stops until the user confirms it. The store also keeps
 * one pipeline per originator and target, so no pipeline adopts or finds another one's items.
 */

/** What a run is about to write to and read from. */
export interface Wanted {
  readonly target: string
  readonly originator: string
  /** Each connected source's location, by source name (sources that cannot tell are left out). */
  readonly sources: ReadonlyMap<string, string>
}

/** Why a pipeline may not go on with this state, as a sentence that says what to do. */
export interface Refusal {
  readonly _tag: "OtherTarget" | "SourceChanged" | "OriginatorTaken"
  readonly message: string
}

/** The target a sink connection writes to, without secrets. */
export const targetOf = (sink: Sink.Sink, connection: Sink.Connection): string =>
  (connection.identity ?? `${sink.kind} ${sink.name}`).slice(0, 255)

/** The sources' locations, by name. */
export const sourcesOf = (
  connections: ReadonlyMap<Source.Source<unknown>, Source.Connection<unknown>>,
): ReadonlyMap<string, string> => {
  const out = new Map<string, string>()
  for (const [source, connection] of connections)
    if (connection.location !== undefined) out.set(source.name, connection.location)
  return out
}

/** The stored form of the sources: `name: location`, one a line, sorted (readable with SQL). */
export const formatSources = (sources: ReadonlyMap<string, string>): string | null =>
  sources.size === 0
    ? null
    : [...sources]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, location]) => `${name}: ${location}`)
        .join("\n")

export const parseSources = (text: string | null): ReadonlyMap<string, string> => {
  const out = new Map<string, string>()
  for (const line of (text ?? "").split("\n")) {
    const at = line.indexOf(": ")
    if (at > 0) out.set(line.slice(0, at), line.slice(at + 2))
  }
  return out
}

const waysOut = (pipeline: string) =>
  `keep this pipeline's state for each portal in its own state store (PIPELINE_STATE_URL or --state), ` +
  `or rebuild the id map from the new portal with \`pipeline relink ${pipeline}\`, ` +
  `or forget the state with \`pipeline reset ${pipeline} --yes\``

/** Another pipeline of this store writing to the same target with the same originator, if any. */
export const originatorTaken = (
  pipeline: string,
  wanted: Pick<Wanted, "target" | "originator">,
  bindings: ReadonlyArray<Binding>,
): Refusal | undefined => {
  const other = bindings.find(
    (b) => b.pipeline !== pipeline && b.originator === wanted.originator && b.target === wanted.target,
  )
  return other === undefined
    ? undefined
    : {
        _tag: "OriginatorTaken",
        message:
          `pipeline "${other.pipeline}" already writes items with originator "${wanted.originator}" to ${wanted.target} ` +
          `from this state store; pipeline "${pipeline}" would find and adopt its items as its own. ` +
          `Give "${pipeline}" an originator of its own (Pipeline.make({ ..., options: { originator: "${pipeline}" } })), ` +
          `or run it against another portal`,
      }
}

/**
 * Compares what a run wants with the pipeline's binding and the store's other bindings. Answers
 * the refusals (empty when the run may go on) and the binding to record, when it changes.
 */
export const compare = (
  pipeline: string,
  wanted: Wanted,
  existing: Option.Option<Binding>,
  bindings: ReadonlyArray<Binding>,
  options: { readonly acceptSourceChange: boolean },
): {
  readonly refusals: ReadonlyArray<Refusal>
  readonly record: Omit<Binding, "boundAt"> | undefined
} => {
  const refusals: Array<Refusal> = []
  const taken = originatorTaken(pipeline, wanted, bindings)
  if (taken !== undefined) refusals.push(taken)
  const bound = Option.getOrUndefined(existing)
  if (bound !== undefined && bound.target !== wanted.target) {
    refusals.push({
      _tag: "OtherTarget",
      message:
        `the state of pipeline "${pipeline}" belongs to ${bound.target}, but this run writes to ${wanted.target}: ` +
        `its id map holds ids of the first portal, which would overwrite unrelated items of the second. ` +
        `Nothing was read or written. To go on, ${waysOut(pipeline)}`,
    })
  }
  const before = parseSources(bound?.source ?? null)
  const changed = [...wanted.sources].filter(([name, location]) => {
    const was = before.get(name)
    return was !== undefined && was !== location
  })
  if (changed.length > 0 && !options.acceptSourceChange) {
    refusals.push({
      _tag: "SourceChanged",
      message:
        `the source of pipeline "${pipeline}" changed: ${changed
          .map(([name, location]) => `${name} was ${before.get(name)}, is now ${location}`)
          .join("; ")}. ` +
        `If it holds the same records (a moved or restored database), run again with --accept-source-change ` +
        `(RunOptions.acceptSourceChange); if it is another database, use another state store (PIPELINE_STATE_URL or --state) ` +
        `or \`pipeline reset ${pipeline} --yes\``,
    })
  }
  if (refusals.length > 0) return { refusals, record: undefined }
  const merged = new Map(before)
  for (const [name, location] of wanted.sources) merged.set(name, location)
  const source = formatSources(merged) ?? bound?.source ?? null
  const same =
    bound !== undefined &&
    bound.target === wanted.target &&
    bound.originator === wanted.originator &&
    bound.source === source
  return {
    refusals,
    record: same ? undefined : { pipeline, target: wanted.target, originator: wanted.originator, source },
  }
}

/**
 * Checks a run against the pipeline's binding: answers the refusals (the run must stop) and,
 * when there are none and this is no dry run, records the binding (first run, new or confirmed
 * source).
 */
export const bindRun = (
  store: StateStore,
  pipeline: Pipeline.Pipeline,
  connected: {
    readonly sink: Sink.Connection
    readonly sources: ReadonlyMap<Source.Source<unknown>, Source.Connection<unknown>>
  },
  options: { readonly dryRun: boolean; readonly acceptSourceChange: boolean },
): Effect.Effect<ReadonlyArray<Refusal>, StateStoreError> =>
  Effect.gen(function* () {
    const wanted: Wanted = {
      target: targetOf(pipeline.sink, connected.sink),
      originator: Pipeline.originator(pipeline),
      sources: sourcesOf(connected.sources),
    }
    const result = compare(
      pipeline.name,
      wanted,
      yield* store.binding(pipeline.name),
      yield* store.bindings,
      options,
    )
    if (result.refusals.length === 0 && result.record !== undefined && !options.dryRun)
      yield* store.bind(result.record)
    return result.refusals
  })
