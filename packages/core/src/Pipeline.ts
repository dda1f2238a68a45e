// Module by module, not the `effect` index: a pipeline file loads this at definition time (`list`).
import * as Cron from "effect/Cron"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as EntityGraph from "./EntityGraph.js"
import type * as Sink from "./Sink.js"
import type * as Source from "./Source.js"
import type * as Step from "./Step.js"

/** What a mapping returns: target fields, where references (`ref(...)`) may stand for ids. */
export type Fields = Readonly<Record<string, unknown>>

/** A reference to another entity of the pipeline; `deferred` ones may close a cycle (see EntityGraph). */
export type ReferenceDeclaration =
  | string
  | { readonly entity: string; readonly deferred: true; readonly field: string }

/** Given to every mapping: which pipeline and entity it maps for. */
export interface MapContext {
  readonly pipeline: string
  readonly entity: string
}

/**
 * One entity of a pipeline: where its records come from, how they are checked and transformed,
 * and where they go.
 */
export interface Entity<Row = unknown, Decoded = Row, Out = Decoded, T extends Sink.Target = Sink.Target> {
  readonly from: Source.SourceStream<Row>
  /** Decodes every record; one that does not decode goes to the dead letters naming the field. */
  // biome-ignore lint/suspicious/noExplicitAny: the encoded side is whatever the source yields
  readonly schema?: Schema.Schema<Decoded, any> | undefined
  /** Transform steps after decoding (filters, validation, lookups). */
  // `NoInfer`: the record type comes from `from` and `schema`; a step for another type is an error here.
  readonly steps?: Step.Step<NoInfer<Decoded>, Out> | undefined
  readonly to: T
  /** Maps a record to target fields. A throw or failure dead-letters the record at stage `map`. */
  readonly map: (record: Out, context: MapContext) => Fields | Effect.Effect<Fields, Step.StepFailure>
  /**
   * The entities this one links to with `ref(...)`. They are created first. A reference the
   * mapping makes to an entity not listed here is dead-lettered, so the plan is always honest.
   */
  readonly references?: ReadonlyArray<ReferenceDeclaration> | undefined
  /**
   * Creates records one batch at a time, in the order the source reads them, instead of several
   * batches in flight. For targets that need it: Bitrix24 keeps an imported `createdTime` (the
   * record's history) only when items arrive in ascending `createdTime`, so map it, read the
   * source in that order (e.g. `cursor: "created_at"`), and set `inOrder: true`. One request in
   * flight is close to the portal's own pace at the standard 2 requests/s.
   */
  readonly inOrder?: boolean | undefined
  /**
   * Records deleted or deactivated in the source (a soft-delete column). `ignore`: never created,
   * and left as they are in the target once there. `{ update }`: never created; once in the
   * target, updated with these fields (e.g. `{ opened: "N" }`) the first time they show deleted.
   * `delete`: never created; once in the target, deleted there (in batches, at the end of the
   * run, after the deletions of the entities that reference this one) and recorded as `deleted`
   * in the id map; a record the source brings back is created again, with a new id. Needs a sink
   * that can delete (Bitrix24: `crm.item.delete`).
   */
  readonly deleted?:
    | {
        readonly when: (record: Out) => boolean
        readonly policy: "ignore" | "delete" | { readonly update: Fields }
      }
    | undefined
}

// biome-ignore lint/suspicious/noExplicitAny: an entity of any row type, for collections
export type AnyEntity = Entity<any, any, any, Sink.Target>

/** When a scheduled pipeline runs: a cron expression, in a time zone, optionally catching up a missed tick. */
export interface ScheduleDefinition {
  readonly cron: string
  /** IANA time zone, e.g. `Europe/Berlin`; default UTC. */
  readonly timeZone?: string | undefined
  /** When the process was down at a tick, run once on start. Default false. */
  readonly catchUp?: boolean | undefined
}

export interface Options {
  /** Stored with every created item (Bitrix24 `originatorId`); default: the pipeline name. */
  readonly originator?: string | undefined
  /** Records read per chunk from sources and buffered between stages. Default 500. */
  readonly bufferSize?: number | undefined
  /**
   * How far past a run's start (milliseconds) a record's cursor may be before it counts as in
   * the future: the checkpoint never passes such a record, so it is read again by every run
   * (see the README's "cursor guard"). Default 5 minutes, for clocks that drift.
   */
  readonly cursorToleranceMs?: number | undefined
}

// biome-ignore lint/suspicious/noExplicitAny: a sink of any target type; entities' targets are checked against its kind
export type AnySink = Sink.Sink<any>

export interface Definition<Entities extends Record<string, AnyEntity> = Record<string, AnyEntity>> {
  readonly name: string
  readonly description?: string | undefined
  readonly sink: AnySink
  readonly entities: Entities
  readonly schedule?: string | ScheduleDefinition | undefined
  readonly options?: Options | undefined
}

export const TypeId: unique symbol = Symbol.for("@b24etl/core/Pipeline")
export type TypeId = typeof TypeId

/** A pipeline: a value, checked by the type system, validated when loaded. */
export interface Pipeline<Entities extends Record<string, AnyEntity> = Record<string, AnyEntity>>
  extends Definition<Entities> {
  readonly [TypeId]: TypeId
}

/** Defines a pipeline. Validation that needs all entities at once happens in `validate`. */
export const make = <const Entities extends Record<string, AnyEntity>>(
  definition: Definition<Entities>,
): Pipeline<Entities> => ({ ...definition, [TypeId]: TypeId })

export const isPipeline = (u: unknown): u is Pipeline => typeof u === "object" && u !== null && TypeId in u

/**
 * Defines an entity with its row type inferred from `schema` (or given as a type argument),
 * so `map` is checked against the decoded row.
 */
export const entity = <Row, Decoded = Row, Out = Decoded, T extends Sink.Target = Sink.Target>(
  definition: Entity<Row, Decoded, Out, T>,
): Entity<NoInfer<Row>, NoInfer<Decoded>, NoInfer<Out>, NoInfer<T>> => definition

/** The pipeline definition is wrong; `pipeline` and `entity` say where. Raised before any read or write. */
export class DefinitionError extends Data.TaggedError("DefinitionError")<{
  readonly pipeline: string
  readonly entity?: string | undefined
  readonly message: string
}> {}

const NAME = /^[a-z][a-z0-9_-]*$/i

export const referencedEntity = (declaration: ReferenceDeclaration): string =>
  typeof declaration === "string" ? declaration : declaration.entity

/**
 * Checks what the types cannot: names, unknown references, duplicates (entity names are keys
 * in the state store, compared case-insensitively as MySQL does) and reference cycles.
 * Answers the entities in the order they must be written.
 */
export const validate = (pipeline: Pipeline): Effect.Effect<ReadonlyArray<string>, DefinitionError> =>
  Effect.gen(function* () {
    const fail = (message: string, entity?: string) =>
      Effect.fail(new DefinitionError({ pipeline: pipeline.name, entity, message }))
    if (!NAME.test(pipeline.name)) {
      return yield* fail(
        `pipeline name "${pipeline.name}" must start with a letter and use only letters, digits, _ and -`,
      )
    }
    const names = Object.keys(pipeline.entities)
    if (names.length === 0) return yield* fail("the pipeline has no entities")
    const seen = new Map<string, string>()
    for (const name of names) {
      if (!NAME.test(name)) {
        return yield* fail(
          `entity name "${name}" must start with a letter and use only letters, digits, _ and -`,
          name,
        )
      }
      const other = seen.get(name.toLowerCase())
      if (other !== undefined) {
        return yield* fail(`duplicate entity: "${name}" and "${other}" differ only in case`, name)
      }
      seen.set(name.toLowerCase(), name)
      const e = pipeline.entities[name]!
      if (e.from === undefined || e.from.source === undefined)
        return yield* fail("entity has no `from` stream", name)
      if (e.to === undefined) return yield* fail("entity has no `to` target", name)
      if (typeof e.map !== "function") return yield* fail("entity has no `map` function", name)
      if (e.to.sink !== pipeline.sink.kind) {
        return yield* fail(
          `target "${e.to.name}" belongs to sink "${e.to.sink}", but the pipeline writes to "${pipeline.sink.kind}"`,
          name,
        )
      }
      for (const declaration of e.references ?? []) {
        const target = referencedEntity(declaration)
        if (!(target in pipeline.entities)) {
          return yield* fail(`reference to unknown entity "${target}" (entities: ${names.join(", ")})`, name)
        }
      }
    }
    yield* cron(pipeline)
    const graph = EntityGraph.make(
      names.map((name) => ({
        name,
        references: (pipeline.entities[name]!.references ?? []).map((d) =>
          typeof d === "string" ? { entity: d, deferred: false } : { entity: d.entity, deferred: true },
        ),
      })),
    )
    const order = EntityGraph.order(graph)
    if (order._tag === "Left") {
      return yield* fail(
        `reference cycle: ${order.left.join(" -> ")}. Declare one of these references as { entity, field, deferred: true } to create without it and link afterwards`,
        order.left[0],
      )
    }
    return order.right
  })

/** The pipeline's schedule as a full definition, or none when it only runs on demand. */
export const schedule = (pipeline: Pipeline): Option.Option<ScheduleDefinition> =>
  pipeline.schedule === undefined
    ? Option.none()
    : Option.some(typeof pipeline.schedule === "string" ? { cron: pipeline.schedule } : pipeline.schedule)

/** Parses a pipeline's schedule; the error names the pipeline, the expression and the reason. */
export const cron = (pipeline: Pipeline): Either.Either<Option.Option<Cron.Cron>, DefinitionError> => {
  const definition = schedule(pipeline)
  if (Option.isNone(definition)) return Either.right(Option.none())
  const { cron: expression, timeZone } = definition.value
  let parsed: Either.Either<Cron.Cron, { readonly message: string }>
  try {
    parsed = Cron.parse(expression, timeZone)
  } catch (e) {
    // An unknown time zone throws rather than answering Left.
    parsed = Either.left({ message: e instanceof Error ? e.message : String(e) })
  }
  return Either.isRight(parsed)
    ? Either.right(Option.some(parsed.right))
    : Either.left(
        new DefinitionError({
          pipeline: pipeline.name,
          message: `schedule "${expression}"${timeZone ? ` (${timeZone})` : ""} is not a valid cron expression: ${parsed.left.message}`,
        }),
      )
}

/** The `originatorId` a pipeline's items carry. */
export const originator = (pipeline: Pipeline): string => pipeline.options?.originator ?? pipeline.name

/** Decodes a pipeline module's default export; an error names the file. */
export const fromModule = (path: string, module: unknown): Effect.Effect<Pipeline, DefinitionError> => {
  const value = (module as { default?: unknown } | undefined)?.default
  return isPipeline(value)
    ? Effect.succeed(value)
    : Effect.fail(
        new DefinitionError({
          pipeline: path,
          message: `${path} must \`export default Pipeline.make({...})\``,
        }),
      )
}
