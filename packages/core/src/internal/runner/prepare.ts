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
  readonly payload: Json
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

/**
 * Runs one record through decode -> steps -> map. Never fails: a record that cannot pass becomes
 * a dead letter with the stage, the field when known and the reason; the run goes on.
 */
export const prepare = (
  pipeline: string,
  entityName: string,
  entity: Pipeline.AnyEntity,
): ((record: SourceRecord) => Effect.Effect<Outcome>) => {
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

  return (record) => {
    const payload = toJson(record.data)
    const fail = (stage: string, code: string, message: string): Outcome => ({
      _tag: "Failed",
      key: record.key,
      position: record.position,
      deadLetter: { entity: entityName, sourceKey: record.key, stage, code, message, payload },
    })
    return Effect.gen(function* () {
      if (record.key.length > SourceKey.maxLength) {
        return fail(
          "read",
          "KEY_TOO_LONG",
          `the key is ${record.key.length} characters; the id map keeps at most ${SourceKey.maxLength}`,
        )
      }
      let value: unknown = record.data
      if (validate) {
        const decoded = yield* Effect.either(validate.run(value))
        if (Either.isLeft(decoded)) return fail("decode", "DECODE_FAILED", decoded.left.message)
        if (Option.isSome(decoded.right)) value = decoded.right.value
      }
      if (entity.steps) {
        const stepped = yield* Effect.either(entity.steps.run(value))
        if (Either.isLeft(stepped)) {
          const f = stepped.left
          return fail(
            "transform",
            "TRANSFORM_FAILED",
            `${f.step}: ${f.field ? `${f.field}: ` : ""}${f.message}`,
          )
        }
        if (Option.isNone(stepped.right))
          return { _tag: "Skipped", key: record.key, position: record.position }
        value = stepped.right.value
      }
      const deletion = entity.deleted
      if (deletion) {
        const isDeleted = yield* Effect.try({ try: () => deletion.when(value), catch: describeCause }).pipe(
          Effect.either,
        )
        if (Either.isLeft(isDeleted))
          return fail("transform", "TRANSFORM_FAILED", `deleted.when: ${isDeleted.left}`)
        if (isDeleted.right) {
          const fields = deletion.policy === "ignore" ? {} : { ...deletion.policy.update }
          const hash = hashFields({ $deleted: true, ...fields })
          return {
            _tag: "Prepared",
            key: record.key,
            position: record.position,
            payload,
            fields,
            deferred: {},
            createHash: hash,
            hash,
            deleted: deletion.policy === "ignore" ? "ignore" : "update",
          } satisfies Prepared
        }
      }
      const mapped = yield* Effect.try({ try: () => entity.map(value, context), catch: describeCause }).pipe(
        Effect.flatMap((out) =>
          Effect.isEffect(out)
            ? (out as Effect.Effect<Pipeline.Fields, Step.StepFailure>).pipe(
                Effect.mapError((f) => `${f.field ? `${f.field}: ` : ""}${f.message}`),
                Effect.catchAllDefect((d) => Effect.fail(describeCause(d))),
              )
            : Effect.succeed(out as Pipeline.Fields),
        ),
        Effect.either,
      )
      if (Either.isLeft(mapped)) return fail("map", "MAP_FAILED", mapped.left)
      const fields: Record<string, unknown> = {}
      const deferred: Record<string, unknown> = {}
      for (const [field, v] of Object.entries(mapped.right)) {
        if (v === undefined) continue
        if (deferredFields.has(field)) deferred[field] = v
        else fields[field] = v
      }
      for (const r of Reference.collect(mapped.right)) {
        if (!declared.has(r.entity)) {
          return fail(
            "map",
            "UNDECLARED_REFERENCE",
            `the mapping references entity "${r.entity}" (key ${r.key}), which is not in this entity's \`references\``,
          )
        }
      }
      const all = { ...fields, ...deferred }
      const createHash = hashFields(fields)
      return {
        _tag: "Prepared",
        key: record.key,
        position: record.position,
        payload,
        fields,
        deferred,
        createHash,
        hash: Object.keys(deferred).length === 0 ? createHash : hashFields(all),
        deleted: false,
      } satisfies Prepared
    })
  }
}
