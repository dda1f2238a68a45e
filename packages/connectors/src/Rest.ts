import * as Json from "@b24etl/core/Json"
import * as Source from "@b24etl/core/Source"
import * as SourceKey from "@b24etl/core/SourceKey"
import { FetchHttpClient } from "@effect/platform"
import {
  Chunk,
  Config,
  type ConfigError,
  Context,
  Duration,
  Effect,
  Layer,
  Option,
  RateLimiter,
  type Scope,
  Stream,
} from "effect"
import * as Body from "./internal/rest/body.js"
import * as Request from "./internal/rest/request.js"
import * as Pagination from "./Pagination.js"
import type * as RestAuth from "./RestAuth.js"

/**
 * A REST API as a source, on `@effect/platform`'s HttpClient: auth (bearer, basic, API key,
 * OAuth2 client credentials), five pagination styles, a record selector, incremental reads
 * passing the checkpoint as a query parameter, retries on 429 and 5xx honouring `Retry-After`,
 * a request rate limit and timeouts. Records are the JSON objects the API returns.
 */

/** How to reach the API. */
export interface RestConfig {
  /** `https://crm.example.com/api/v2/`; endpoint paths are resolved against it. */
  readonly baseUrl: string
  readonly auth?: RestAuth.Auth | undefined
  /** At most `limit` requests per `interval` (a token bucket), e.g. `{ limit: 10, interval: "1 second" }`. */
  readonly rateLimit?: { readonly limit: number; readonly interval: Duration.DurationInput } | undefined
  /** Time allowed for one request, body included. Default 30 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Attempts after the first on 429, 5xx, timeouts and network errors. Default 5. */
  readonly retries?: number | undefined
  /** The first backoff when the server gives no `Retry-After`; doubled per attempt, jittered. Default 500 ms. */
  readonly backoff?: Duration.DurationInput | undefined
  /** The longest `Retry-After` honoured; a longer one fails the read. Default 5 minutes. */
  readonly maxRetryAfter?: Duration.DurationInput | undefined
  /** Headers sent with every request. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The source's name in messages (and the default `originatorId`). Default `rest`. */
  readonly name?: string | undefined
}

/** What an endpoint stream reads. */
export interface EndpointOptions {
  /** The field or fields that identify a record (dotted paths allowed: `attributes.id`). */
  readonly key: string | ReadonlyArray<string>
  /** Where the records are in the body (`data.items`); the body itself when absent. */
  readonly records?: string | undefined
  readonly pagination?: Pagination.Pagination | undefined
  /**
   * Incremental reads: the checkpoint's cursor is sent as `?<param>=<cursor>`, and records
   * carry a position `{ cursor: record[cursorField], key }`. The API must return records in
   * ascending cursor order and filter with `>=` or `>`; records before the checkpoint and the
   * checkpoint's own record are dropped, other records with the same cursor value are read
   * again (the id map recognises them), so none is lost.
   */
  readonly incremental?: { readonly param: string; readonly cursorField: string } | undefined
  /** Query parameters sent with every page. */
  readonly query?: Readonly<Record<string, string | number | boolean>> | undefined
}

/** An endpoint to read. */
export interface EndpointSpec extends EndpointOptions {
  readonly path: string
}

/** A connected API: serves endpoint specs; `get` fetches any JSON document through the same policy. */
export interface RestClient extends Source.Connection<EndpointSpec> {
  readonly name: string
  readonly get: (
    path: string,
    query?: Readonly<Record<string, string>>,
  ) => Effect.Effect<unknown, Source.SourceError>
}

/** The connected API as a service. */
export class Rest extends Context.Tag("@b24etl/connectors/Rest")<Rest, RestClient>() {}

const describe = (spec: EndpointSpec) => `endpoint ${spec.path}`

/** Opens the client (and its rate limiter) for the scope's lifetime. */
export const make = (config: RestConfig): Effect.Effect<RestClient, Source.SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const name = config.name ?? "rest"
    const fail = (message: string, where?: string) => new Source.SourceError({ source: name, where, message })
    const base = yield* Effect.try({
      try: () => new URL(config.baseUrl.endsWith("/") ? config.baseUrl : `${config.baseUrl}/`),
      catch: () => fail(`${name}: the base URL is not a URL`),
    })
    const limiter = config.rateLimit
      ? yield* RateLimiter.make({ ...config.rateLimit, algorithm: "token-bucket" })
      : <A, E, R>(effect: Effect.Effect<A, E, R>) => effect
    const requester = yield* Request.make({
      source: name,
      auth: config.auth,
      headers: config.headers ?? {},
      timeout: Duration.decode(config.timeout ?? "30 seconds"),
      retries: config.retries ?? 5,
      backoff: Duration.decode(config.backoff ?? "500 millis"),
      maxRetryAfter: Duration.decode(config.maxRetryAfter ?? "5 minutes"),
      limit: limiter,
    }).pipe(Effect.provide(FetchHttpClient.layer))

    const urlOf = (path: string, query: Readonly<Record<string, string | number | boolean>>) => {
      const url = new URL(path.replace(/^\//, ""), base)
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v))
      return url
    }

    const recordsOf = (spec: EndpointSpec, answer: Request.Answer) => {
      const found = Body.at(answer.body, spec.records)
      if (!Array.isArray(found))
        return Effect.fail(
          fail(
            `${name}: GET ${Request.shown(answer.url, requester.secretParams)}: expected an array of records at ${spec.records ? `"${spec.records}"` : "the top of the body"}, found ${Body.kindOf(found)}`,
            describe(spec),
          ),
        )
      return Effect.succeed(found as ReadonlyArray<unknown>)
    }

    /** The URL of the page after `answer`, if any. */
    const nextOf = (spec: EndpointSpec, answer: Request.Answer, count: number): Option.Option<URL> => {
      const pagination = spec.pagination ?? Pagination.none
      const url = new URL(answer.url)
      switch (pagination._tag) {
        case "None":
          return Option.none()
        case "Page": {
          if (count === 0 || (pagination.size !== undefined && count < pagination.size)) return Option.none()
          const current = Number(url.searchParams.get(pagination.param) ?? pagination.first)
          url.searchParams.set(pagination.param, String(current + 1))
          return Option.some(url)
        }
        case "Offset": {
          if (count === 0 || count < pagination.limit) return Option.none()
          const current = Number(url.searchParams.get(pagination.offsetParam) ?? 0)
          url.searchParams.set(pagination.offsetParam, String(current + count))
          return Option.some(url)
        }
        case "CursorToken": {
          const token = Body.at(answer.body, pagination.next)
          if (token === undefined || token === null || token === "") return Option.none()
          url.searchParams.set(pagination.param, String(token))
          return Option.some(url)
        }
        case "NextUrl": {
          const next = Body.at(answer.body, pagination.next)
          return typeof next === "string" && next !== ""
            ? Option.some(new URL(next, answer.url))
            : Option.none()
        }
        case "LinkHeader": {
          const next = Body.nextLink(answer.headers.link)
          return next ? Option.some(new URL(next, answer.url)) : Option.none()
        }
      }
    }

    const firstUrl = (spec: EndpointSpec, after: Json.Json | undefined) => {
      const url = urlOf(spec.path, spec.query ?? {})
      const pagination = spec.pagination ?? Pagination.none
      if (pagination._tag === "Page") {
        url.searchParams.set(pagination.param, String(pagination.first))
        if (pagination.size !== undefined && pagination.sizeParam)
          url.searchParams.set(pagination.sizeParam, String(pagination.size))
      }
      if (pagination._tag === "Offset") {
        url.searchParams.set(pagination.offsetParam, "0")
        url.searchParams.set(pagination.limitParam, String(pagination.limit))
      }
      const cursor = (after as { cursor?: Json.Json } | undefined)?.cursor
      if (spec.incremental && cursor !== undefined && cursor !== null)
        url.searchParams.set(
          spec.incremental.param,
          typeof cursor === "string" ? cursor : JSON.stringify(cursor),
        )
      return url
    }

    const keysOf = (spec: EndpointSpec) => (typeof spec.key === "string" ? [spec.key] : spec.key)

    const toRecord = (spec: EndpointSpec, url: URL) => {
      const keys = keysOf(spec)
      return (item: unknown): Effect.Effect<Source.SourceRecord, Source.SourceError> => {
        if (item === null || typeof item !== "object" || Array.isArray(item))
          return Effect.fail(
            fail(
              `${name}: GET ${Request.shown(url, requester.secretParams)}: a record is ${Body.kindOf(item)}, not an object`,
              describe(spec),
            ),
          )
        const parts: Array<SourceKey.KeyPart> = []
        for (const k of keys) {
          const v = Body.at(item, k)
          if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")
            return Effect.fail(
              fail(
                `${name}: GET ${Request.shown(url, requester.secretParams)}: a record has no usable key field "${k}" (found ${Body.kindOf(v)}): ${JSON.stringify(item).slice(0, 200)}`,
                describe(spec),
              ),
            )
          parts.push(v)
        }
        const data = item as Readonly<Record<string, unknown>>
        const key = SourceKey.make(parts.length === 1 ? parts[0]! : parts)
        if (!spec.incremental) return Effect.succeed({ key, data })
        return Effect.succeed({
          key,
          data,
          position: {
            cursor: Json.toJson(Body.at(item, spec.incremental.cursorField)),
            key: parts.map(Json.toJson),
          },
        })
      }
    }

    /** Drops what the checkpoint already covers: earlier cursors, and the checkpoint's own record. */
    const keep = (spec: EndpointSpec, after: Json.Json | undefined) => {
      if (!spec.incremental || after === undefined || after === null) return () => true
      const p = after as { readonly cursor?: Json.Json; readonly key?: ReadonlyArray<Json.Json> }
      const mark = JSON.stringify(p.key ?? [])
      return (record: Source.SourceRecord) => {
        const position = record.position as { cursor: Json.Json; key: ReadonlyArray<Json.Json> }
        const c = compareCursor(position.cursor, p.cursor ?? null)
        return c > 0 || (c === 0 && JSON.stringify(position.key) !== mark)
      }
    }

    const pages = (spec: EndpointSpec, after: Json.Json | undefined) =>
      Stream.suspend(() => {
        // Every URL read so far in this read: a cursor or next link that loops is caught, not followed forever.
        const seen = new Set<string>()
        return Stream.paginateChunkEffect<URL, Source.SourceRecord, Source.SourceError, never>(
          firstUrl(spec, after),
          (url) =>
            Effect.gen(function* () {
              const answer = yield* requester.get(url)
              const items = yield* recordsOf(spec, answer)
              const records = yield* Effect.forEach(items, toRecord(spec, answer.url))
              const next = nextOf(spec, answer, items.length)
              seen.add(url.href)
              if (Option.isSome(next) && seen.has(next.value.href))
                return yield* Effect.fail(
                  fail(
                    `${name}: GET ${Request.shown(answer.url, requester.secretParams)}: the next page is one already read (${Request.shown(next.value, requester.secretParams)}); the pagination setting may not match the API`,
                    describe(spec),
                  ),
                )
              return [Chunk.unsafeFromArray(records.filter(keep(spec, after))), next] as const
            }),
        )
      })

    const checkAfter = (spec: EndpointSpec, after: Json.Json | undefined) =>
      after === undefined ||
      after === null ||
      (spec.incremental && typeof after === "object" && !Array.isArray(after) && "cursor" in after)
        ? Effect.void
        : Effect.fail(
            fail(
              `${name}: ${describe(spec)}: the checkpoint ${JSON.stringify(after).slice(0, 200)} does not fit this stream (${spec.incremental ? "expected { cursor, key }" : "it is not incremental"}); reset the entity's checkpoint if the stream changed`,
              describe(spec),
            ),
          )

    const read = (spec: EndpointSpec, request: Source.ReadRequest) =>
      Stream.unwrap(
        Effect.as(checkAfter(spec, request.after), pages(spec, request.after)).pipe(
          Effect.map((s) => (request.limit === undefined ? s : Stream.take(s, request.limit))),
        ),
      )

    const check = (spec: EndpointSpec) => Effect.asVoid(Stream.runDrain(Stream.take(read(spec, {}), 1)))

    const get = (path: string, query: Readonly<Record<string, string>> = {}) =>
      Effect.map(requester.get(urlOf(path, query)), (answer) => answer.body)

    return { name, check, read, get }
  })

const compareCursor = (a: Json.Json, b: Json.Json): number => {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  if (typeof a === "number" && typeof b === "number") return a - b
  if (typeof a === "string" && typeof b === "string") {
    const ta = Date.parse(a)
    const tb = Date.parse(b)
    if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return ta - tb
    return a < b ? -1 : a > b ? 1 : 0
  }
  const sa = JSON.stringify(a)
  const sb = JSON.stringify(b)
  return sa < sb ? -1 : sa > sb ? 1 : 0
}

/** The connected API as a layer. */
export const layer = (config: RestConfig): Layer.Layer<Rest, Source.SourceError> =>
  Layer.scoped(Rest, make(config))

/** The connected API as a layer, its settings read from `Config`. */
export const layerConfig = (
  config: Config.Config.Wrap<RestConfig>,
): Layer.Layer<Rest, Source.SourceError | ConfigError.ConfigError> =>
  Layer.scoped(Rest, Effect.flatMap(Config.unwrap(config), make))

/** A source's settings: like `RestConfig`, but the base URL may be read from `Config` at run time. */
export interface RestSourceConfig extends Omit<RestConfig, "baseUrl"> {
  readonly baseUrl: string | Config.Config<string>
}

/** A REST source with an `endpoint` builder. */
export interface RestSource extends Source.Source<EndpointSpec> {
  /** Reads an endpoint: `crm.endpoint("companies", { key: "id", records: "data.items", pagination: Pagination.page() })`. */
  readonly endpoint: <Row = Readonly<Record<string, unknown>>>(
    path: string,
    options: EndpointOptions,
  ) => Source.SourceStream<Row>
}

/**
 * A REST source, connected when a run starts:
 * `const crm = Rest.source({ baseUrl: "https://crm.example.com/api/", auth: RestAuth.bearer(Config.redacted("CRM_TOKEN")) })`.
 */
export const source = (config: RestSourceConfig): RestSource => {
  const name = config.name ?? "rest"
  const rest: Source.Source<EndpointSpec> = {
    version: Source.version,
    kind: "rest",
    name,
    describe,
    connect: Effect.gen(function* () {
      const baseUrl = Config.isConfig(config.baseUrl)
        ? yield* Effect.mapError(
            config.baseUrl,
            (cause) =>
              new Source.SourceError({
                source: name,
                message: `${name}: the base URL is not configured: ${String(cause)}`,
                cause,
              }),
          )
        : config.baseUrl
      return yield* make({ ...config, baseUrl })
    }),
  }
  return { ...rest, endpoint: (path, options) => Source.stream(rest, { path, ...options }) }
}
