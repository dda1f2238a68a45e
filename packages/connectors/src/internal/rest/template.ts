import { Either } from "effect"
import * as Body from "./body.js"

/**
 * Placeholders in endpoint paths and query values: `organizations/{id}/persons`,
 * `{ filter: "owner eq {owner.id}" }`. A name is a dotted path; anything else in braces (a JSON
 * value such as `{"status":"open"}`) is left as it is.
 */
const placeholder = /\{([A-Za-z_$][\w$]*(?:\.[\w$]+)*)\}/g

/** Where placeholder values come from: the endpoint's `vars`, then the parent record's fields. */
export interface Bindings {
  readonly vars: Readonly<Record<string, string | number | boolean>>
  readonly parent: Readonly<Record<string, unknown>> | undefined
}

const lookup = (name: string, bindings: Bindings): Either.Either<string, string> => {
  if (Object.hasOwn(bindings.vars, name)) return Either.right(String(bindings.vars[name]))
  if (bindings.parent === undefined)
    return Either.left(`no value for {${name}}: it is not in vars and the endpoint has no parent`)
  const value = Body.at(bindings.parent, name)
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean"
    ? Either.right(String(value))
    : typeof value === "bigint"
      ? Either.right(value.toString())
      : Either.left(`no value for {${name}}: the parent record has ${Body.kindOf(value)} at "${name}"`)
}

/** The text with its placeholders filled, each value passed through `encode`. */
export const fill = (
  text: string,
  bindings: Bindings,
  encode: (value: string) => string = (v) => v,
): Either.Either<string, string> => {
  let failure: string | undefined
  const filled = text.replace(placeholder, (_, name: string) => {
    const value = lookup(name, bindings)
    if (Either.isLeft(value)) {
      failure ??= value.left
      return ""
    }
    return encode(value.right)
  })
  return failure === undefined ? Either.right(filled) : Either.left(failure)
}
