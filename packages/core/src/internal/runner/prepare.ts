import { createHash } from "node:crypto"
import { Effect, Either, Option } from "effect"
import * as Dropped from "../../Dropped.js"
import { type Json, stringify, toJson } from "../../Json.js"
import type * as Pipeline from "../../Pipeline.js"
import * as Reference from "../../Reference.js"
import type { SourceRecord } from "../../Source.js"
import type { DeadLetterInput } from "../../StateStore.js"
import * as Step from "../../Step.js"
import { invalidUnicode, keyProblem } from "./storable.js"

/** A record that passed decoding, the steps and the mapping: ready to be classified and sent. */
export interface Prepared {
  readonly _tag: "Prepared"
  readonly key: string
  readonly position: Json | undefined
  /** The record as read: its dead letter's payload, should it fail later. */
  readonly data: Readonly<Record<string, unknown>>
  /** Mapped fields, references still unresolved. */
  readonly fields: Readonly<Record<string, unknown>>
  /** Fields held back from the create because they close a reference cycle (linked afterwards). */
  readonly deferred: Readonly<Record<string, unknown>>
  /** Hash of the fields as created (without deferred ones) */
  readonly createHash: string
  /** Hash of all the fields: what the record looks like once linked. */
  readonly hash: string
  /**
   * The source marks the record deleted: it is never created; `fields` hold the update the
   * entity's policy makes to an existing item, or nothing for `ignore` and `delete` (the
   * existing item is deleted).
   */
  readonly deleted: false | "ignore" | "update" | "delete"
  /** Values the mapping's field helpers dropped (`Bitrix24.emails`...), by field; absent when none. */
  readonly dropped?: ReadonlyArray<Dropped.DroppedValue & { readonly field: string }> | undefined
}

export interface Skipped {
  readonly _tag: "Skipped"
  readonly key: string
  readonly position: Json | undefined
}

export interface Failed {
  readonly _tag: "Failed"
  readonly key: string
  readonly position: Json | undefined
  readonly deadLetter: DeadLetterInput
}

export type Outcome = Prepared | Skipped | Failed

/** Hash of a record's fields; references hash as `entity/key`, so the hash is known before ids are. */
export const hashFields = (fields: Readonly<Record<string, unknown>>): string => {
  const replace = (v: unknown): unknown =>
    Reference.isReference(v) ? { $ref: `${v.entity}/${v.key}` } : Array.isArray(v) ? v.map(replace) : v
  const canonical: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) canonical[k] = replace(v)
  return createHash("sha256").update(stringify(canonical)).digest("base64url").slice(0, 32)
}

const describeCause = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** How the runner prepares records: one at a time, or a chunk at once. */
export interface Preparer {
  readonly one: (record: SourceRecord) => Effect.Effect<Outcome>
  /**
   * A chunk's outcomes, in order. Records whose entity has no schema, no steps and a mapping
   * that returns plain fields are prepared synchronously, with no effect per record: that
   * per-record machinery was most of the runner's own time on a rerun (`bench/runner.ts`).
   */
  readonly chunk: (records: ReadonlyArray<SourceRecord>) => Effect.Effect<ReadonlyArray<Outcome>>
}

/** What preparing an entity's records needs, worked out once per entity. */
interface Rules {
  readonly entityName: string
  readonly entity: Pipeline.AnyEntity
  readonly validate: ReturnType<typeof Step.validate> | undefined
  /** Entities the mapping may reference. */
  readonly declared: ReadonlySet<string>
  /** Fields held back from the create because they close a reference cycle. */
  readonly deferredFields: ReadonlySet<string>
  readonly context: Pipeline.MapContext
}

const fail = (
  rules: Rules,
  record: SourceRecord,
  stage: string,
  code: string,
  message: string,
  // The record as read goes with its dead letter (computed only for the records that fail).
  payload: Json = toJson(record.data),
): Failed => ({
  _tag: "Failed",
  key: record.key,
  position: record.position,
  deadLetter: { entity: rules.entityName, sourceKey: record.key, stage, code, message, payload },
})

/** A record as read, with what preparing made of it. */
const preparedOf = (
  record: SourceRecord,
  made: Omit<Prepared, "_tag" | "key" | "position" | "data">,
): Prepared => ({
  _tag: "Prepared",
  key: record.key,
  position: record.position,
  data: record.data,
  ...made,
})

/** The mapped fields, split and checked, as an outcome. */
const fromFields = (rules: Rules, record: SourceRecord, mapped: Pipeline.Fields): Outcome => {
  const fields: Record<string, unknown> = {}
  const deferred: Record<string, unknown> = {}
  let anyDeferred = false
  let dropped: Array<Dropped.DroppedValue & { readonly field: string }> | undefined
  for (const field in mapped) {
    const v = mapped[field]
    if (v === undefined) continue
    for (const d of Dropped.of(v)) {
      if (dropped === undefined) dropped = []
      dropped.push({ field, ...d })
    }
    if (rules.deferredFields.has(field)) {
      deferred[field] = v
      anyDeferred = true
    } else fields[field] = v
  }
  for (const r of Reference.collect(mapped)) {
    if (!rules.declared.has(r.entity)) {
      return fail(
        rules,
        record,
        "map",
        "UNDECLARED_REFERENCE",
        `the mapping references entity "${r.entity}" (key ${r.key}), which is not in this entity's \`references\``,
      )
    }
  }
  const createHash = hashFields(fields)
  const hash = anyDeferred ? hashFields({ ...fields, ...deferred }) : createHash
  // After hashing, which refuses a circular value with a clear message.
  const invalid = invalidUnicode(mapped)
  if (invalid !== undefined) return fail(rules, record, "map", "INVALID_TEXT", invalid)
  return preparedOf(record, {
    fields,
    deferred,
    createHash,
    hash,
    deleted: false,
    ...(dropped === undefined ? {} : { dropped }),
  })
}

/** A record the source marks deleted, when it is: never created, updated by the entity's policy. */
const deletion = (rules: Rules, record: SourceRecord, value: unknown): Outcome | undefined => {
  const rule = rules.entity.deleted
  if (!rule) return undefined
  let isDeleted: boolean
  try {
    isDeleted = rule.when(value)
  } catch (cause) {
    return fail(rules, record, "transform", "TRANSFORM_FAILED", `deleted.when: ${describeCause(cause)}`)
  }
  if (!isDeleted) return undefined
  const policy = rule.policy
  const fields = typeof policy === "string" ? {} : { ...policy.update }
  const hash = hashFields({ $deleted: true, ...fields })
  return preparedOf(record, {
    fields,
    deferred: {},
    createHash: hash,
    hash,
    deleted: typeof policy === "string" ? policy : "update",
  })
}

/** From a decoded, transformed value: the deletion rule, then the mapping. Synchronous unless the mapping returns an effect. */
const finish = (rules: Rules, record: SourceRecord, value: unknown): Outcome | Effect.Effect<Outcome> => {
  const deleted = deletion(rules, record, value)
  if (deleted !== undefined) return deleted
  let out: Pipeline.Fields | Effect.Effect<Pipeline.Fields, Step.StepFailure>
  try {
    out = rules.entity.map(value, rules.context)
  } catch (cause) {
    return fail(rules, record, "map", "MAP_FAILED", describeCause(cause))
  }
  if (!Effect.isEffect(out)) return fromFields(rules, record, out as Pipeline.Fields)
  return (out as Effect.Effect<Pipeline.Fields, Step.StepFailure>).pipe(
    Effect.mapError((f) => `${f.field ? `${f.field}: ` : ""}${f.message}`),
    Effect.catchAllDefect((d) => Effect.fail(describeCause(d))),
    Effect.match({
      onFailure: (message) => fail(rules, record, "map", "MAP_FAILED", message),
      onSuccess: (fields) => fromFields(rules, record, fields),
    }),
  )
}

/** One record: key check, decode, steps, then `finish`. Synchronous when the entity has no schema and no steps. */
const prepareOne = (rules: Rules, record: SourceRecord): Outcome | Effect.Effect<Outcome> => {
  const badKey = keyProblem(record.key)
  if (badKey !== undefined) return fail(rules, record, "read", badKey.code, badKey.message)
  const { validate, entity } = rules
  if (validate === undefined && entity.steps === undefined) return finish(rules, record, record.data)
  return Effect.gen(function* () {
    let value: unknown = record.data
    if (validate) {
      const decoded = yield* Effect.either(validate.run(value))
      if (Either.isLeft(decoded)) return fail(rules, record, "decode", "DECODE_FAILED", decoded.left.message)
      if (Option.isSome(decoded.right)) value = decoded.right.value
    }
    if (entity.steps) {
      const stepped = yield* Effect.either(entity.steps.run(value))
      if (Either.isLeft(stepped)) {
        const f = stepped.left
        return fail(
          rules,
          record,
          "transform",
          "TRANSFORM_FAILED",
          `${f.step}: ${f.field ? `${f.field}: ` : ""}${f.message}`,
        )
      }
      if (Option.isNone(stepped.right))
        return { _tag: "Skipped", key: record.key, position: record.position } satisfies Skipped
      value = stepped.right.value
    }
    const done = finish(rules, record, value)
    return Effect.isEffect(done) ? yield* done : done
  })
}

/** A record whose preparing threw where nothing expected it (a mapping that returns a circular value, say). */
const unexpected = (rules: Rules, record: SourceRecord, cause: unknown): Failed => {
  let payload: Json
  try {
    payload = toJson(record.data)
  } catch {
    payload = null
  }
  const reason =
    cause instanceof RangeError && /call stack/i.test(cause.message)
      ? "a mapped value is circular or too deeply nested"
      : describeCause(cause)
  return fail(rules, record, "map", "PREPARE_FAILED", `preparing the record failed: ${reason}`, payload)
}

/** `prepareOne`, with anything it throws as that record's dead letter: no record ends the run. */
const prepareSafely = (rules: Rules, record: SourceRecord): Outcome | Effect.Effect<Outcome> => {
  try {
    const outcome = prepareOne(rules, record)
    return Effect.isEffect(outcome)
      ? Effect.catchAllDefect(outcome, (cause) => Effect.succeed(unexpected(rules, record, cause)))
      : outcome
  } catch (cause) {
    return unexpected(rules, record, cause)
  }
}

/** A chunk's outcomes in order: the synchronous ones at once, the others one after another. */
const prepareChunk = (
  rules: Rules,
  records: ReadonlyArray<SourceRecord>,
): Effect.Effect<ReadonlyArray<Outcome>> =>
  Effect.suspend(() => {
    const outcomes = new Array<Outcome>(records.length)
    const later: Array<readonly [number, Effect.Effect<Outcome>]> = []
    for (let i = 0; i < records.length; i++) {
      const outcome = prepareSafely(rules, records[i]!)
      if (Effect.isEffect(outcome)) later.push([i, outcome])
      else outcomes[i] = outcome
    }
    if (later.length === 0) return Effect.succeed(outcomes)
    // Records are prepared one after another, as the steps and mapping may expect.
    return Effect.as(
      Effect.forEach(
        later,
        ([i, effect]) =>
          Effect.map(effect, (o) => {
            outcomes[i] = o
          }),
        { discard: true },
      ),
      outcomes,
    )
  })

/**
 * Runs records through decode -> steps -> map. Never fails: a record that cannot pass becomes
 * a dead letter with the stage, the field when known and the reason; the run goes on.
 */
export const prepare = (pipeline: string, entityName: string, entity: Pipeline.AnyEntity): Preparer => {
  const declared = new Set<string>()
  const deferredFields = new Set<string>()
  for (const d of entity.references ?? []) {
    if (typeof d === "string") declared.add(d)
    else {
      declared.add(d.entity)
      deferredFields.add(d.field)
    }
  }
  const rules: Rules = {
    entityName,
    entity,
    validate: entity.schema ? Step.validate(entity.schema, "decode") : undefined,
    declared,
    deferredFields,
    context: { pipeline, entity: entityName },
  }
  return {
    one: (record) => {
      const outcome = prepareSafely(rules, record)
      return Effect.isEffect(outcome) ? outcome : Effect.succeed(outcome)
    },
    chunk: (records) => prepareChunk(rules, records),
  }
}
