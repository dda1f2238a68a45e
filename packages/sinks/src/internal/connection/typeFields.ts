/**
 * The fields of a CRM type as the portal describes them (`crm.item.fields`), asked once per type
 * per connection: `find` needs to know the identity field exists, `plan` checks the mapping.
 */
import type * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import type * as Target from "../../Target.js"
import { isObject, toSinkError } from "./requests.js"

/** A field as `crm.item.fields` describes it. */
export interface FieldInfo {
  readonly name: string
  readonly type: string
  readonly title: string
  readonly upperName: string
  readonly isRequired: boolean
  readonly isReadOnly: boolean
  readonly isMultiple: boolean
  /** The values an `enumeration` (or any listed) field takes: `ID` is what is written. */
  readonly items?: ReadonlyArray<{ readonly ID: string; readonly VALUE: string }> | undefined
}

export interface TypeFields {
  readonly byName: ReadonlyMap<string, FieldInfo>
  /** `UF_CRM_...`, `PARENT_ID_...`, `COMPANY_ID`... -> camelCase name. */
  readonly byUpperName: ReadonlyMap<string, string>
}

const listItems = (raw: ReadonlyArray<unknown>): ReadonlyArray<{ ID: string; VALUE: string }> =>
  raw.flatMap((i) =>
    isObject(i) && i.ID !== undefined ? [{ ID: String(i.ID), VALUE: String(i.VALUE ?? "") }] : [],
  )

/** A field by its camelCase name or its original one (`UF_CRM_...`, `PARENT_ID_...`). */
export const fieldNamed = (known: TypeFields, name: string): FieldInfo | undefined =>
  known.byName.get(name) ?? known.byName.get(known.byUpperName.get(name) ?? "")

const fromAnswer = (answer: Bitrix24Client.Answer): TypeFields => {
  const raw = isObject(answer.result) && isObject(answer.result.fields) ? answer.result.fields : {}
  const byName = new Map<string, FieldInfo>()
  const byUpperName = new Map<string, string>()
  for (const [name, d] of Object.entries(raw)) {
    const info: FieldInfo = {
      name,
      type: isObject(d) ? String(d.type ?? "") : "",
      title: isObject(d) ? String(d.title ?? name) : name,
      upperName: isObject(d) && typeof d.upperName === "string" ? d.upperName : name.toUpperCase(),
      isRequired: isObject(d) && d.isRequired === true,
      isReadOnly: isObject(d) && d.isReadOnly === true,
      isMultiple: isObject(d) && d.isMultiple === true,
      items: isObject(d) && Array.isArray(d.items) ? listItems(d.items) : undefined,
    }
    byName.set(name, info)
    byUpperName.set(info.upperName, name)
  }
  return { byName, byUpperName }
}

/** A lookup of a target's fields over `client`, remembering each type's answer. */
export const cached = (
  client: Bitrix24Client.Client,
): ((target: Target.Target) => Effect.Effect<TypeFields, Sink.SinkError>) => {
  const cache = new Map<number, TypeFields>()
  return (target) => {
    const known = cache.get(target.entityTypeId)
    if (known !== undefined) return Effect.succeed(known)
    return client.call("crm.item.fields", { entityTypeId: target.entityTypeId }).pipe(
      Effect.mapError((e) => toSinkError(e, true)),
      Effect.map((answer) => {
        const result = fromAnswer(answer)
        cache.set(target.entityTypeId, result)
        return result
      }),
    )
  }
}
