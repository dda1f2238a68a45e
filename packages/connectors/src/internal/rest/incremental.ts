import type * as Json from "@b24etl/core/Json"
import { Duration, Either } from "effect"

/** How a cursor value is written into the request. */
export type Format = "rfc3339" | "epochSeconds" | "epochMillis" | ((cursor: Json.Json) => string)

/** What an incremental endpoint declares (see `Rest.Incremental`). */
export interface Settings {
  readonly param: string
  readonly cursorField: string
  readonly format?: Format | undefined
  readonly start?: string | number | Date | undefined
  readonly lookback?: Duration.DurationInput | undefined
}

/** A record's place in an incremental read: its cursor value, then its key. */
export type Position = {
  readonly cursor: Json.Json
  readonly key: ReadonlyArray<Json.Json>
}

/** Orders cursor values: numbers by value, dates by time, other text by code points; `null` first. */
export const compareCursor = (a: Json.Json, b: Json.Json): number => {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  if (typeof a === "number" && typeof b === "number") return a - b
  if (typeof a === "string" && typeof b === "string") {
    const ta = timeOf(a)
    const tb = timeOf(b)
    if (ta !== undefined && tb !== undefined && ta !== tb) return ta - tb
    return a < b ? -1 : a > b ? 1 : 0
  }
  const sa = JSON.stringify(a)
  const sb = JSON.stringify(b)
  return sa < sb ? -1 : sa > sb ? 1 : 0
}

/** Orders positions by cursor, then key part by part. */
export const compare = (a: Position, b: Position): number => {
  const c = compareCursor(a.cursor, b.cursor)
  if (c !== 0) return c
  for (let i = 0; i < Math.min(a.key.length, b.key.length); i++) {
    const k = compareCursor(a.key[i]!, b.key[i]!)
    if (k !== 0) return k
  }
  return a.key.length - b.key.length
}

/** A stored checkpoint as a position, when it is one. */
export const positionOf = (after: Json.Json | undefined): Position | undefined => {
  if (after === undefined || after === null || typeof after !== "object" || Array.isArray(after))
    return undefined
  const p = after as { readonly cursor?: Json.Json; readonly key?: Json.Json }
  return { cursor: p.cursor ?? null, key: Array.isArray(p.key) ? p.key : [] }
}

// A date and time without a zone (`2020-01-07 05:05:08`, as many APIs and databases write it): read as UTC.
const zoneless = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?$/

/** Milliseconds since the epoch of a date text; a text without a zone is UTC. */
const timeOf = (text: string): number | undefined => {
  if (!/^\d{4}-\d\d-\d\d/.test(text)) return undefined
  const t = Date.parse(zoneless.test(text) ? `${text.replace(" ", "T")}Z` : text)
  return Number.isNaN(t) ? undefined : t
}

/** `2020-01-07T05:05:08Z`, with milliseconds only when there are some. */
const rfc3339 = (millis: number) => new Date(millis).toISOString().replace(".000Z", "Z")

/** A cursor value (or start value) as a time, in milliseconds since the epoch. */
const instantOf = (value: Json.Json | Date, format: Format | undefined): Either.Either<number, string> => {
  if (value instanceof Date) return Either.right(value.getTime())
  if (typeof value === "string") {
    const t = timeOf(value)
    return t === undefined ? Either.left(`${JSON.stringify(value)} is not a date`) : Either.right(t)
  }
  if (typeof value === "number") {
    if (format === "epochSeconds") return Either.right(value * 1000)
    if (format === "epochMillis") return Either.right(value)
    return Either.left(`the number ${value} is not a time unless format is "epochSeconds" or "epochMillis"`)
  }
  return Either.left(`${JSON.stringify(value)} is not a date`)
}

/** A value as the API expects it in the request. */
const render = (value: Json.Json | Date, format: Format | undefined): Either.Either<string, string> => {
  if (typeof format === "function")
    return Either.right(format(value instanceof Date ? value.toISOString() : value))
  if (format === undefined)
    return Either.right(
      value instanceof Date
        ? rfc3339(value.getTime())
        : typeof value === "string"
          ? value
          : JSON.stringify(value),
    )
  if (typeof value === "number" && format !== "rfc3339") return Either.right(String(value))
  return Either.map(instantOf(value, format), (t) =>
    format === "rfc3339"
      ? rfc3339(t)
      : format === "epochSeconds"
        ? String(Math.floor(t / 1000))
        : String(Math.floor(t)),
  )
}

/**
 * The value of the incremental parameter: the checkpoint's cursor less the lookback, or the
 * start value on a first run; `undefined` sends no parameter (read everything).
 */
export const since = (
  settings: Settings,
  after: Position | undefined,
): Either.Either<string | undefined, string> => {
  const cursor = after?.cursor
  if (cursor === undefined || cursor === null)
    return settings.start === undefined ? Either.right(undefined) : render(settings.start, settings.format)
  if (settings.lookback === undefined) return render(cursor, settings.format)
  const lookback = Duration.toMillis(Duration.decode(settings.lookback))
  return Either.flatMap(
    Either.mapLeft(instantOf(cursor, settings.format), (why) => `a lookback needs a time cursor: ${why}`),
    (t) =>
      typeof cursor === "number"
        ? render(
            settings.format === "epochSeconds" ? cursor - Math.ceil(lookback / 1000) : cursor - lookback,
            settings.format,
          )
        : render(new Date(t - lookback), settings.format),
  )
}
