import * as Json from "@b24etl/core/Json"
import * as Source from "@b24etl/core/Source"
import * as SourceKey from "@b24etl/core/SourceKey"
import { Chunk, Effect, Either, Exit, Option, Scope, Stream } from "effect"
import type { CompiledQuery, Kysely, RawBuilder } from "kysely"
import { sql } from "kysely"
import * as SqlSpec from "../SqlSpec.js"
import * as Identifier from "./identifier.js"
import type * as RowReader from "./rowReader.js"

/** What differs between the SQL engines when paging. */
export interface Dialect {
  readonly kind: "postgres" | "mysql"
  /** A column rendered as text exact to the microsecond (the session is in UTC). */
  readonly asText: (column: RawBuilder<unknown>) => RawBuilder<unknown>
  /** A value read in this run, as a query parameter. */
  readonly param: (value: unknown) => unknown
  /** A value from a stored position (JSON), as a query parameter. */
  readonly fromPosition: (value: Json.Json) => unknown
}

/** A connected SQL database that SQL specs are read from. */
export interface Client {
  readonly name: string
  readonly dialect: Dialect
  // biome-ignore lint/suspicious/noExplicitAny: raw SQL only, no typed tables
  readonly db: Kysely<any>
  /**
   * Starts one query and returns how to take its rows in chunks as they arrive, without holding
   * the whole result (a page) or blocking the server while downstream is busy. The scope ends
   * the query's session.
   */
  readonly open: (
    query: CompiledQuery,
    chunkSize: number,
  ) => Effect.Effect<RowReader.Take, unknown, Scope.Scope>
  readonly chunkSize: number
  readonly pageSize: number
  /** Hides secrets from driver messages. */
  readonly scrub: (text: string) => string
}

const SRC = "b24etl_src"
const QUERY = "b24etl_query"
const CURSOR_TEXT = "b24etl_cursor_text"

interface Plan {
  readonly describe: string
  readonly from: RawBuilder<unknown>
  readonly select: RawBuilder<unknown>
  readonly keys: ReadonlyArray<string>
  readonly cursor: string | undefined
  readonly where: RawBuilder<unknown> | undefined
  readonly chunkSize: number
  readonly pageSize: number
}

/** Where the next page starts. */
type Bound =
  | { readonly phase: "keys"; readonly key: ReadonlyArray<unknown> | undefined }
  | { readonly phase: "nulls"; readonly key: ReadonlyArray<unknown> | undefined }
  | { readonly phase: "values"; readonly cursor: unknown; readonly key: ReadonlyArray<unknown> }
  | { readonly phase: "values"; readonly cursor: undefined; readonly key: undefined }

const id = (name: string) => sql.id(name)

const fail = (client: Client, where: string, message: string, cause?: unknown) =>
  new Source.SourceError({ source: client.name, where, message: client.scrub(message), cause })

const keysOf = (key: SqlSpec.Key): ReadonlyArray<string> => (typeof key === "string" ? [key] : key)

/** Validates every name and builds the parts of the paging query; runs nothing. */
const compile = (client: Client, spec: SqlSpec.Spec): Either.Either<Plan, Source.SourceError> => {
  const where = SqlSpec.describe(spec)
  const invalid = (e: Identifier.InvalidName) =>
    fail(client, where, `${where}: ${Identifier.message(e)}; nothing was run`)
  return Either.gen(function* () {
    const keys = keysOf(spec.key)
    if (keys.length === 0) return yield* Either.left(fail(client, where, `${where}: the key names no column`))
    for (const k of keys) yield* Either.mapLeft(Identifier.column(k, "key column"), invalid)
    const expression = typeof spec.cursor === "object" ? spec.cursor : undefined
    const cursor = typeof spec.cursor === "object" ? spec.cursor.as : spec.cursor
    if (cursor !== undefined)
      yield* Either.mapLeft(
        Identifier.column(
          cursor,
          expression === undefined ? "cursor column" : "cursor expression's name (as)",
        ),
        invalid,
      )
    const chunkSize = spec.chunkSize ?? client.chunkSize
    const pageSize = Math.max(spec.pageSize ?? client.pageSize, chunkSize)
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || !Number.isInteger(pageSize))
      return yield* Either.left(
        fail(client, where, `${where}: chunkSize and pageSize must be positive integers`),
      )
    let from: RawBuilder<unknown>
    let select: RawBuilder<unknown> = sql`${id(SRC)}.*`
    let filter: RawBuilder<unknown> | undefined
    if (spec._tag === "Table") {
      const parts = yield* Either.mapLeft(Identifier.table(spec.table), invalid)
      if (spec.where !== undefined) filter = yield* compileWhere(client, spec.where, invalid)
      if (expression === undefined) from = sql`${sql.id(...parts)} AS ${id(SRC)}`
      else {
        // The table keeps its own name inside, so the expression's correlated subqueries can name it.
        from = sql`(SELECT *, (${raw(expression.sql)}) AS ${id(expression.as)} FROM ${sql.id(...parts)}${whereClause(filter ? [filter] : [])}) AS ${id(SRC)}`
        filter = undefined
      }
      if (spec.columns !== undefined) {
        const columns: Array<string> = []
        for (const c of spec.columns) columns.push(yield* Either.mapLeft(Identifier.column(c), invalid))
        for (const c of [...keys, ...(cursor === undefined ? [] : [cursor])])
          if (!columns.includes(c)) columns.push(c)
        select = sql.join(columns.map(id))
      }
    } else {
      from =
        expression === undefined
          ? sql`(${raw(spec.sql)}) AS ${id(SRC)}`
          : sql`(SELECT ${id(QUERY)}.*, (${raw(expression.sql)}) AS ${id(expression.as)} FROM (${raw(spec.sql)}) AS ${id(QUERY)}) AS ${id(SRC)}`
    }
    if (cursor !== undefined)
      select = sql`${select}, ${client.dialect.asText(id(cursor))} AS ${id(CURSOR_TEXT)}`
    return { describe: where, from, select, keys, cursor, where: filter, chunkSize, pageSize }
  })
}

const raw = (text: string | RawBuilder<unknown>): RawBuilder<unknown> =>
  typeof text === "string" ? sql.raw(text) : text

const compileWhere = (
  client: Client,
  where: SqlSpec.Where,
  invalid: (e: Identifier.InvalidName) => Source.SourceError,
): Either.Either<RawBuilder<unknown>, Source.SourceError> => {
  if (typeof where === "string") return Either.right(sql`(${sql.raw(where)})`)
  if (isRawBuilder(where)) return Either.right(sql`(${where})`)
  return Either.gen(function* () {
    const conditions: Array<RawBuilder<unknown>> = []
    for (const [column, value] of Object.entries(where)) {
      const c = id(yield* Either.mapLeft(Identifier.column(column, "where column"), invalid))
      if (value === null) conditions.push(sql`${c} IS NULL`)
      else if (Array.isArray(value))
        conditions.push(
          value.length === 0 ? sql`1 = 0` : sql`${c} IN (${sql.join(value.map(client.dialect.param))})`,
        )
      else conditions.push(sql`${c} = ${client.dialect.param(value)}`)
    }
    return conditions.length === 0 ? sql`1 = 1` : sql`(${sql.join(conditions, sql` AND `)})`
  })
}

const isRawBuilder = (u: unknown): u is RawBuilder<unknown> =>
  typeof u === "object" && u !== null && (u as { isRawBuilder?: unknown }).isRawBuilder === true

/** `(c1, c2) > (v1, v2)` spelled out, so every engine can use an index on the leading column. */
const greater = (columns: ReadonlyArray<string>, values: ReadonlyArray<unknown>): RawBuilder<unknown> => {
  const [c, ...restC] = columns
  const [v, ...restV] = values
  if (restC.length === 0) return sql`${id(c!)} > ${v}`
  return sql`(${id(c!)} > ${v} OR (${id(c!)} = ${v} AND ${greater(restC, restV)}))`
}

const after = (columns: ReadonlyArray<string>, values: ReadonlyArray<unknown>): RawBuilder<unknown> =>
  columns.length === 1
    ? greater(columns, values)
    : sql`${id(columns[0]!)} >= ${values[0]} AND ${greater(columns, values)}`

/** The conditions and order of one page. */
const pageParts = (plan: Plan, bound: Bound) => {
  const conditions: Array<RawBuilder<unknown>> = plan.where ? [plan.where] : []
  let order: ReadonlyArray<string> = plan.keys
  switch (bound.phase) {
    case "keys":
      if (bound.key) conditions.push(after(plan.keys, bound.key))
      break
    case "nulls":
      conditions.push(sql`${id(plan.cursor!)} IS NULL`)
      if (bound.key) conditions.push(after(plan.keys, bound.key))
      break
    case "values":
      order = [plan.cursor!, ...plan.keys]
      conditions.push(
        bound.key === undefined
          ? sql`${id(plan.cursor!)} IS NOT NULL`
          : after(order, [bound.cursor, ...bound.key]),
      )
  }
  return { conditions, order }
}

const whereClause = (conditions: ReadonlyArray<RawBuilder<unknown>>) =>
  conditions.length === 0 ? sql`` : sql` WHERE ${sql.join(conditions, sql` AND `)}`

/** Where a stored position says to start; fails when it does not fit the stream. */
const start = (
  client: Client,
  plan: Plan,
  position: Json.Json | undefined,
): Either.Either<Bound, Source.SourceError> => {
  if (position === undefined || position === null)
    return Either.right(
      plan.cursor === undefined ? { phase: "keys", key: undefined } : { phase: "nulls", key: undefined },
    )
  const bad = (why: string) =>
    Either.left(
      fail(
        client,
        plan.describe,
        `${plan.describe}: the checkpoint ${JSON.stringify(position).slice(0, 200)} does not fit this stream (${why}); reset the entity's checkpoint if the stream changed`,
      ),
    )
  if (plan.cursor === undefined) return bad("the stream has no cursor, so it is never read incrementally")
  if (
    typeof position !== "object" ||
    Array.isArray(position) ||
    !("cursor" in position) ||
    !("key" in position)
  )
    return bad("expected { cursor, key }")
  const p = position as { readonly cursor: Json.Json; readonly key: Json.Json }
  if (!Array.isArray(p.key) || p.key.length !== plan.keys.length)
    return bad(`expected a key of ${plan.keys.length} part(s)`)
  const key = (p.key as ReadonlyArray<Json.Json>).map(client.dialect.fromPosition)
  if (p.cursor === null) return Either.right({ phase: "nulls", key })
  return Either.right({ phase: "values", cursor: client.dialect.fromPosition(p.cursor), key })
}

/** `2024-05-01 10:00:00.123456+00` (the session is in UTC) as `2024-05-01T10:00:00.123456Z`. */
export const isoFromText = (text: string): string => {
  const t = text.replace(" ", "T")
  if (/[+-]00(:?00)?$/.test(t)) return `${t.replace(/[+-]00(:?00)?$/, "")}Z`
  if (/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(t)) return `${t}Z`
  return t
}

const execute = (client: Client, plan: Plan, query: RawBuilder<Record<string, unknown>>) =>
  Effect.tryPromise({
    try: () => query.execute(client.db),
    catch: (cause) =>
      fail(
        client,
        plan.describe,
        `cannot read ${plan.describe} from ${client.name}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause,
      ),
  })

/** Serves SQL specs from a connected client: keyset pages, positions, counts. */
export const connection = (client: Client): Source.Connection<SqlSpec.Spec> => {
  const plan = (spec: SqlSpec.Spec) => Effect.suspend(() => compile(client, spec))

  const check = (spec: SqlSpec.Spec) =>
    Effect.gen(function* () {
      const p = yield* plan(spec)
      const { conditions, order } = pageParts(
        p,
        p.cursor === undefined
          ? { phase: "keys", key: undefined }
          : { phase: "values", cursor: undefined, key: undefined },
      )
      yield* execute(
        client,
        p,
        sql<
          Record<string, unknown>
        >`SELECT ${p.select} FROM ${p.from}${whereClause(conditions)} ORDER BY ${sql.join(order.map(id))} LIMIT 0`,
      )
    })

  const count = (spec: SqlSpec.Spec, request: Source.ReadRequest) =>
    Effect.gen(function* () {
      const p = yield* plan(spec)
      const bound = yield* start(client, p, request.after)
      const conditions: Array<RawBuilder<unknown>> = p.where ? [p.where] : []
      if (bound.phase === "keys" && bound.key) conditions.push(after(p.keys, bound.key))
      if (bound.phase === "nulls" && bound.key)
        conditions.push(
          sql`((${id(p.cursor!)} IS NULL AND ${greater(p.keys, bound.key)}) OR ${id(p.cursor!)} IS NOT NULL)`,
        )
      if (bound.phase === "values" && bound.key)
        conditions.push(after([p.cursor!, ...p.keys], [bound.cursor, ...bound.key]))
      const result = yield* execute(
        client,
        p,
        sql<Record<string, unknown>>`SELECT COUNT(*) AS ${id("n")} FROM ${p.from}${whereClause(conditions)}`,
      )
      const n = Number(result.rows[0]?.n ?? 0)
      return request.limit === undefined ? n : Math.min(n, request.limit)
    })

  const read = (
    spec: SqlSpec.Spec,
    request: Source.ReadRequest,
  ): Stream.Stream<Source.SourceRecord, Source.SourceError> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const p = yield* plan(spec)
        const first = yield* start(client, p, request.after)
        const rowsTo = recordOf(client, p)
        const cannotRead = (cause: unknown) =>
          fail(
            client,
            p.describe,
            `cannot read ${p.describe} from ${client.name}: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause,
          )

        /** The page being read: its query's session lives in `scope`, closed when the page ends. */
        interface Page {
          readonly bound: Bound
          readonly remaining: number
          readonly size: number
          readonly scope: Scope.CloseableScope
          readonly take: RowReader.Take
          count: number
          last: Record<string, unknown> | undefined
        }
        // The next page depends on the last row of this one, so pages are read in one flat pull
        // loop; no stream layers per page, which would keep rows alive (see `rowReader.ts`).
        let upcoming: { readonly bound: Bound; readonly remaining: number } | undefined = {
          bound: first,
          remaining: request.limit ?? Number.POSITIVE_INFINITY,
        }
        let page: Page | undefined
        yield* Effect.addFinalizer((exit) =>
          page === undefined ? Effect.void : Scope.close(page.scope, exit),
        )

        const openPage = (state: { readonly bound: Bound; readonly remaining: number }) =>
          Effect.gen(function* () {
            const size = Math.min(p.pageSize, state.remaining)
            const { conditions, order } = pageParts(p, state.bound)
            const query =
              sql`SELECT ${p.select} FROM ${p.from}${whereClause(conditions)} ORDER BY ${sql.join(order.map(id))} LIMIT ${sql.lit(size)}`.compile(
                client.db,
              )
            const scope = yield* Scope.make()
            const take = yield* client.open(query, p.chunkSize).pipe(
              Scope.extend(scope),
              Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))),
            )
            page = { ...state, size, scope, take, count: 0, last: undefined }
            return page
          })

        /** Ends the page and decides where the next one starts, if anywhere. */
        const closePage = (done: Page) => {
          page = undefined
          const remaining = done.remaining - done.count
          if (remaining > 0) {
            if (done.count === done.size && done.last !== undefined) {
              const next = rowsTo.next(done.last)
              upcoming = {
                remaining,
                bound:
                  done.bound.phase === "values"
                    ? { phase: "values", cursor: next.cursor, key: next.key }
                    : done.bound.phase === "nulls"
                      ? { phase: "nulls", key: next.key }
                      : { phase: "keys", key: next.key },
              }
            } else if (done.bound.phase === "nulls")
              upcoming = { remaining, bound: { phase: "values", cursor: undefined, key: undefined } }
          }
          return Scope.close(done.scope, Exit.void)
        }

        const pull: Effect.Effect<
          Chunk.Chunk<Source.SourceRecord>,
          Option.Option<Source.SourceError>
        > = Effect.suspend(() => {
          if (page === undefined) {
            const state = upcoming
            upcoming = undefined
            if (state === undefined) return Effect.fail(Option.none())
            return Effect.zipRight(
              Effect.mapError(openPage(state), (e) => Option.some(cannotRead(e))),
              pull,
            )
          }
          const current = page
          return Effect.matchEffect(current.take, {
            onFailure: (cause) => Effect.fail(Option.some(cannotRead(cause))),
            onSuccess: (rows) => {
              if (rows === undefined) return Effect.zipRight(closePage(current), pull)
              const records = new Array<Source.SourceRecord>(rows.length)
              for (let i = 0; i < rows.length; i++) {
                const r = rowsTo.record(rows[i]!)
                if (r instanceof Source.SourceError) return Effect.fail(Option.some(r))
                records[i] = r
              }
              current.count += rows.length
              if (rows.length > 0) current.last = rows[rows.length - 1]
              return Effect.succeed(Chunk.unsafeFromArray(records))
            },
          })
        })
        return Stream.repeatEffectChunkOption(pull)
      }),
    )

  return { check, count, read }
}

/** Turns rows into records; `next` says where the page after a row starts (asked of the last row only). */
const recordOf = (client: Client, plan: Plan) => {
  const keys = plan.keys
  const single = keys.length === 1
  const cursor = plan.cursor
  const nullKey = (i: number) =>
    fail(
      client,
      plan.describe,
      `${plan.describe}: a row has NULL in key column ${keys[i]}; keys must not be NULL (filter such rows out with "where")`,
    )
  const record = (row: Record<string, unknown>): Source.SourceRecord | Source.SourceError => {
    let sourceKey: string
    if (single) {
      const value = row[keys[0]!]
      if (value === null || value === undefined) return nullKey(0)
      sourceKey = SourceKey.make(value as SourceKey.KeyPart)
    } else {
      const parts = new Array<SourceKey.KeyPart>(keys.length)
      for (let i = 0; i < keys.length; i++) {
        const value = row[keys[i]!]
        if (value === null || value === undefined) return nullKey(i)
        parts[i] = value as SourceKey.KeyPart
      }
      sourceKey = SourceKey.make(parts)
    }
    if (cursor === undefined) return { key: sourceKey, data: row }
    const data: Record<string, unknown> = {}
    for (const column in row) if (column !== CURSOR_TEXT) data[column] = row[column]
    const value = row[cursor]
    const text = row[CURSOR_TEXT]
    const position = {
      cursor:
        value === null || value === undefined
          ? null
          : value instanceof Date && typeof text === "string"
            ? isoFromText(text)
            : Json.toJson(value),
      key: keys.map((k) => Json.toJson(row[k])),
    }
    return { key: sourceKey, position, cursor: value, data }
  }
  const next = (row: Record<string, unknown>) => {
    const value = cursor === undefined ? undefined : row[cursor]
    const text = row[CURSOR_TEXT]
    return {
      // The text keeps the microseconds a Date would lose, so the next page starts exactly after this row.
      cursor: value instanceof Date && typeof text === "string" ? text : client.dialect.param(value),
      key: keys.map((k) => client.dialect.param(row[k])),
    }
  }
  return { record, next }
}
