import * as Json from "@b24etl/core/Json"
import * as Source from "@b24etl/core/Source"
import * as SourceKey from "@b24etl/core/SourceKey"
import { Effect, Stream } from "effect"

/**
 * Rows held in memory, read like a database table: in key order (or cursor, then key, with
 * NULL cursors first), with the same `{ cursor, key }` positions as the SQL sources. For tests
 * and examples of runners, CLIs and pipelines.
 */

/** Which rows a stream reads. */
export interface MemorySpec {
  /** The name of the rows in the source's data. */
  readonly stream: string
  /** The field or fields that identify a row. */
  readonly key: string | ReadonlyArray<string>
  /** A field that grows when a row changes: makes the stream incremental. */
  readonly cursor?: string | undefined
  /** Records per chunk. Default 1,000. */
  readonly chunkSize?: number | undefined
}

/** Options of `records`. */
export type RecordsOptions = Omit<MemorySpec, "stream">

/** A memory source with a `records` builder. */
export interface MemorySource extends Source.Source<MemorySpec> {
  /** Reads the rows named `stream`: `memory.records("companies", { key: "id" })`. */
  readonly records: <Row = Readonly<Record<string, unknown>>>(
    stream: string,
    options: RecordsOptions,
  ) => Source.SourceStream<Row>
}

type Row = Readonly<Record<string, unknown>>

const rank = (value: unknown): number =>
  value === null || value === undefined
    ? 0
    : typeof value === "boolean"
      ? 1
      : value instanceof Date
        ? 3
        : typeof value === "string"
          ? 4
          : 2

/** Orders like a database: NULL first, then booleans, numbers (and bigints), dates, text. */
const compare = (x: unknown, y: unknown): number => {
  // A bigint stored in a position comes back as its text.
  const a = typeof y === "bigint" && typeof x === "string" && /^-?\d+$/.test(x) ? BigInt(x) : x
  const b = typeof x === "bigint" && typeof y === "string" && /^-?\d+$/.test(y) ? BigInt(y) : y
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra - rb
  if (ra === 0) return 0
  const va = a instanceof Date ? a.getTime() : (a as number | bigint | string | boolean)
  const vb = b instanceof Date ? b.getTime() : (b as number | bigint | string | boolean)
  return va < vb ? -1 : va > vb ? 1 : 0
}

const compareAll = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): number => {
  for (let i = 0; i < a.length; i++) {
    const c = compare(a[i], b[i])
    if (c !== 0) return c
  }
  return 0
}

/** A position's values compare with the row's JSON values (dates as ISO text, bigints as text). */
const jsonOf = (value: unknown): unknown => {
  const json = Json.toJson(value)
  return typeof value === "bigint" ? value : json
}

/** A source over rows in memory: `Memory.source("legacy", { companies: [{ id: 1, name: "Acme" }] })`. */
export const source = (name: string, data: Readonly<Record<string, ReadonlyArray<Row>>>): MemorySource => {
  const keysOf = (spec: MemorySpec) => (typeof spec.key === "string" ? [spec.key] : spec.key)
  const select = (
    spec: MemorySpec,
    request: Source.ReadRequest,
  ): Effect.Effect<Array<Row>, Source.SourceError> =>
    Effect.suspend(() => {
      const rows = data[spec.stream]
      if (rows === undefined)
        return Effect.fail(
          new Source.SourceError({
            source: name,
            where: spec.stream,
            message: `${name} has no rows named ${spec.stream}`,
          }),
        )
      const keys = keysOf(spec)
      const order = (r: Row) => [
        ...(spec.cursor === undefined ? [] : [jsonOf(r[spec.cursor])]),
        ...keys.map((k) => jsonOf(r[k])),
      ]
      const sorted = [...rows].sort((a, b) => compareAll(order(a), order(b)))
      const after = request.after
      if (after === undefined || after === null) return Effect.succeed(sorted)
      const p = after as { readonly cursor?: Json.Json; readonly key?: ReadonlyArray<Json.Json> }
      if (spec.cursor === undefined || !Array.isArray(p.key) || !("cursor" in p))
        return Effect.fail(
          new Source.SourceError({
            source: name,
            where: spec.stream,
            message: `${name}: the checkpoint ${JSON.stringify(after)} does not fit stream ${spec.stream}`,
          }),
        )
      const bound = [p.cursor ?? null, ...p.key]
      return Effect.succeed(sorted.filter((r) => compareAll(order(r), bound) > 0))
    })

  const memory: Source.Source<MemorySpec> = {
    version: Source.version,
    kind: "memory",
    name,
    describe: (spec) => `records ${spec.stream}`,
    connect: Effect.succeed({
      // Records in memory are always at hand.
      ping: Effect.void,
      check: (spec) => Effect.asVoid(select(spec, {})),
      count: (spec, request) =>
        Effect.map(select(spec, request), (rows) => Math.min(rows.length, request.limit ?? rows.length)),
      read: (spec, request) =>
        Stream.unwrap(
          Effect.map(select(spec, request), (rows) => {
            const keys = keysOf(spec)
            return Stream.fromIterable(
              request.limit === undefined ? rows : rows.slice(0, request.limit),
            ).pipe(
              Stream.map((row): Source.SourceRecord => {
                const parts = keys.map((k) => row[k] as SourceKey.KeyPart)
                const key = SourceKey.make(parts.length === 1 ? parts[0]! : parts)
                return spec.cursor === undefined
                  ? { key, data: row }
                  : {
                      key,
                      data: row,
                      position: { cursor: Json.toJson(row[spec.cursor]), key: parts.map(Json.toJson) },
                      cursor: row[spec.cursor],
                    }
              }),
              Stream.rechunk(spec.chunkSize ?? 1000),
            )
          }),
        ),
    }),
  }
  return { ...memory, records: (stream, options) => Source.stream(memory, { stream, ...options }) }
}
