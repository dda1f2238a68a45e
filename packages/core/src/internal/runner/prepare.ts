import { createHash } from "node:crypto"
import { Effect, Either, Option } from "effect"
import { type Json, stringify, toJson } from "../../Json.js"
import type * as Pipeline from "../../Pipeline.js"
import * as Reference from "../../Reference.js"
import type { SourceRecord } from "../../Source.js"
import * as SourceKey from "../../SourceKey.js"
import type { DeadLetterInput } from "../../StateStore.js"
import * as Step from "../../Step.js"

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
   * entity's policy makes to an existing item, or nothing for `ignore`.
   */
  readonly deleted: false | "ignore" | "update"
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

/**
 * Runs records through decode -> steps -> map. Never fails: a record that cannot pass becomes
 * a dead letter with the stage, the field when known and the reason; the run goes on.
 */
export const prepare = (pipeline: string, entityName: string, entity: Pipeline.AnyEntity): Preparer => {
  const validate = entity.schema ? Step.validate(entity.schema, "decode") : undefined
  const declared = new Map<string, boolean>()
  const deferredFields = new Set<string>()
  for (const d of entity.references ?? []) {
    if (typeof d === "string") declared.set(d, false)
    else {
      declared.set(d.entity, true)
      deferredFields.add(d.field)
    }
  }
  const context: Pipeline.MapContext = { pipeline, entity: entityName }

  const fail = (record: SourceRecord, stage: string, code: string, message: string): Failed => ({
    _tag: "Failed",
    key: record.key,
    position: record.position,
    // The record as read goes with its dead letter (computed only for the records that fail).
    deadLetter: {
      entity: entityName,
      sourceKey: record.key,
      stage,
      code,
      message,
      payload: toJson(record.data),
    },
  })

  /** The mapped fields, split and checked, as an outcome. */
  const fromFields = (record: SourceRecord, mapped: Pipeline.Fields): Outcome => {
    const fields: Record<string, unknown> = {}
    const deferred: Record<string, unknown> = {}
    let anyDeferred = false
    for (const field in mapped) {
      const v = mapped[field]
      if (v === undefined) continue
      if (deferredFields.has(field)) {
        deferred[field] = v
        anyDeferred = true
      } else fields[field] = v
    }
    for (const r of Reference.collect(mapped)) {
      if (!declared.has(r.entity)) {
        return fail(
          record,
          "map",
          "UNDECLARED_REFERENCE",
          `the mapping references entity "${r.entity}" (key ${r.key}), which is not in this entity's \`references\``,
        )
      }
    }
    const createHash = hashFields(fields)
    return {
      _tag: "Prepared",
      key: record.key,
      position: record.position,
      data: record.data,
      fields,
      deferred,
      createHash,
      hash: anyDeferred ? hashFields({ ...fields, ...deferred }) : createHash,
      deleted: false,
    } satisfies Prepared
  }

  /** From a decoded, transformed value: the deletion rule, then the mapping. Synchronous unless the mapping returns an effect. */
  const finish = (record: SourceRecord, value: unknown): Outcome | Effect.Effect<Outcome> => {
    const deletion = entity.deleted
    if (deletion) {
      let isDeleted: boolean
      try {
        isDeleted = deletion.when(value)
      } catch (cause) {
        return fail(record, "transform", "TRANSFORM_FAILED", `deleted.when: ${describeCause(cause)}`)
      }
      if (isDeleted) {
        const fields = deletion.policy === "ignore" ? {} : { ...deletion.policy.update }
        const hash = hashFields({ $deleted: true, ...fields })
        return {
          _tag: "Prepared",
          key: record.key,
          position: record.position,
          data: record.data,
          fields,
          deferred: {},
          createHash: hash,
          hash,
          deleted: deletion.policy === "ignore" ? "ignore" : "update",
        } satisfies Prepared
      }
    }
    let out: Pipeline.Fields | Effect.Effect<Pipeline.Fields, Step.StepFailure>
    try {
      out = entity.map(value, context)
    } catch (cause) {
      return fail(record, "map", "MAP_FAILED", describeCause(cause))
    }
    if (!Effect.isEffect(out)) return fromFields(record, out as Pipeline.Fields)
    return (out as Effect.Effect<Pipeline.Fields, Step.StepFailure>).pipe(
      Effect.mapError((f) => `${f.field ? `${f.field}: ` : ""}${f.message}`),
      Effect.catchAllDefect((d) => Effect.fail(describeCause(d))),
      Effect.match({
        onFailure: (message) => fail(record, "map", "MAP_FAILED", message),
        onSuccess: (fields) => fromFields(record, fields),
      }),
    )
  }

  const one = (record: SourceRecord): Outcome | Effect.Effect<Outcome> => {
    if (record.key.length > SourceKey.maxLength) {
      return fail(
        record,
        "read",
        "KEY_TOO_LONG",
        `the key is ${record.key.length} characters; the id map keeps at most ${SourceKey.maxLength}`,
      )
    }
    if (validate === undefined && entity.steps === undefined) return finish(record, record.data)
    return Effect.gen(function* () {
      let value: unknown = record.data
      if (validate) {
        const decoded = yield* Effect.either(validate.run(value))
        if (Either.isLeft(decoded)) return fail(record, "decode", "DECODE_FAILED", decoded.left.message)
        if (Option.isSome(decoded.right)) value = decoded.right.value
      }
      if (entity.steps) {
        const stepped = yield* Effect.either(entity.steps.run(value))
        if (Either.isLeft(stepped)) {
          const f = stepped.left
          return fail(
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
      const done = finish(record, value)
      return Effect.isEffect(done) ? yield* done : done
    })
  }

  return {
    one: (record) => {
      const outcome = one(record)
      return Effect.isEffect(outcome) ? outcome : Effect.succeed(outcome)
    },
    chunk: (records) =>
      Effect.suspend(() => {
        const outcomes = new Array<Outcome>(records.length)
        const later: Array<readonly [number, Effect.Effect<Outcome>]> = []
        for (let i = 0; i < records.length; i++) {
          const outcome = one(records[i]!)
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
      }),
  }
}
