import { Either } from "effect"

/**
 * Names of tables and columns come from configuration, so they are checked before any SQL is
 * built: a plain identifier, or `schema.table` for tables. Anything else (quotes, spaces,
 * semicolons, comments) is refused with the name and the reason, and nothing runs.
 */
const plain = /^[A-Za-z_][A-Za-z0-9_$]*$/

/** Why a name was refused, e.g. `column "id; drop" is not a plain identifier`. */
export interface InvalidName {
  readonly what: string
  readonly name: string
  readonly reason: string
}

export const message = (e: InvalidName): string =>
  `${e.what} ${JSON.stringify(e.name)} ${e.reason}: use letters, digits, _ and $ (not first)`

const checkPart = (what: string, whole: string, part: string): Either.Either<string, InvalidName> =>
  part.length === 0
    ? Either.left({ what, name: whole, reason: "has an empty part" })
    : part.length > 63
      ? Either.left({ what, name: whole, reason: "is longer than 63 characters" })
      : plain.test(part)
        ? Either.right(part)
        : Either.left({ what, name: whole, reason: "is not a plain identifier" })

/** A column name: one plain identifier. */
export const column = (name: string, what = "column"): Either.Either<string, InvalidName> =>
  typeof name !== "string"
    ? Either.left({ what, name: String(name), reason: "is not a string" })
    : checkPart(what, name, name)

/** A table name: `table` or `schema.table`, as its parts. */
export const table = (name: string): Either.Either<ReadonlyArray<string>, InvalidName> => {
  if (typeof name !== "string")
    return Either.left({ what: "table", name: String(name), reason: "is not a string" })
  const parts = name.split(".")
  if (parts.length > 2) return Either.left({ what: "table", name, reason: "has more than one dot" })
  return Either.all(parts.map((p) => checkPart("table", name, p)))
}
