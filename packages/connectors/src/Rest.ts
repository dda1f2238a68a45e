import * as Json from "@b24etl/core/Json"
import * as SecretUrl from "@b24etl/core/SecretUrl"
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
  Either,
  Layer,
  Option,
  RateLimiter,
  type Scope,
  Stream,
} from "effect"
import * as Body from "./internal/rest/body.js"
import * as IncrementalRead from "./internal/rest/incremental.js"
import * as Pages from "./internal/rest/pages.js"
import * as Request from "./internal/rest/request.js"
import * as Template from "./internal/rest/template.js"
import * as Pagination from "./Pagination.js"
import type * as RestAuth from "./RestAuth.js"

/**
 * A REST API as a source, on `@effect/platform`'s HttpClient: auth (bearer, basic, API key,
 * OAuth2 client credentials), five pagination styles with stop conditions read from the answer, a record selector,
 * incremental reads passing the checkpoint as a query parameter (formatted, with a start value and
 * a lookback), child endpoints read once per parent record, templated paths and query values, retries on 429 and 5xx honouring `Retry-After`,
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
  /**
   * What the pre-flight request before a run asks for, relative to `baseUrl` (e.g. `"health"`):
   * any answer but 401/403 shows the API can be reached with these credentials. Default: the
   * base URL itself.
   */
  readonly pingPath?: string | undefined
  /** Headers sent with every request. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The source's name in messages (and the default `originatorId`). Default `rest`. */
  readonly name?: string | undefined
}

/**
 * Incremental reads. The checkpoint's cursor goes out as `?<param>=<value>`, and records carry a
 * position `{ cursor: record[cursorField], key }`; the checkpoint stays the greatest position
 * read. Without a lookback the API must return records in ascending cursor order and filter with
 * `>=` or `>`: records before the checkpoint and the checkpoint's own record are dropped, other
 * records with the same cursor value are read again (the id map recognises them), so none is lost.
 */
export interface Incremental {
  /** The query parameter the value goes out in: `updated_since`. */
  readonly param: string
  /** The record field that grows when the record changes: `updated_at` (a dotted path allowed). */
  readonly cursorField: string
  /**
   * How the value is written: `"rfc3339"` (`2020-01-07T05:05:08Z`), `"epochSeconds"`,
   * `"epochMillis"`, or a function of the cursor value. Date texts without a zone
   * (`2020-01-07 05:05:08`) are read as UTC; numbers are taken to be in the format's unit.
   * Default: the value as the API returned it.
   */
  readonly format?: "rfc3339" | "epochSeconds" | "epochMillis" | ((cursor: Json.Json) => string) | undefined
  /** The value of the first run, before any checkpoint, e.g. `"2020-01-01T00:00:00Z"`. Default: no parameter (everything). */
  readonly start?: string | number | Date | undefined
  /**
   * Asks again for what changed this long before the checkpoint (`"10 minutes"`), for APIs whose
   * clock or commit order lets a change appear behind the cursor. Re-read records are all kept
   * (written only if their content changed: the runner compares payload hashes) and take the
   * checkpoint's position, so the checkpoint never moves back. Needs a time cursor: a date text,
   * or a number with `format` `"epochSeconds"` or `"epochMillis"`.
   */
  readonly lookback?: Duration.DurationInput | undefined
}

/** Reads an endpoint once per record of another endpoint of the same source. */
export interface Parent {
  /** The parent stream: `crm.endpoint("organizations", { key: "id", ... })`. Every parent record is read, incremental or not. */
  readonly stream: Source.SourceStream<unknown>
  /** The field each child record gets holding its parent's key (an array for a compound key). Default `parent_key`. */
  readonly as?: string | undefined
}

/** What an endpoint stream reads. */
export interface EndpointOptions {
  /**
   * The field or fields that identify a record (dotted paths allowed: `attributes.id`). A child
   * endpoint's key may include the parent key field (`["org_id", "id"]`).
   */
  readonly key: string | ReadonlyArray<string>
  /**
   * Where the records are in the body (`data.items`); the body itself when absent. `null` or
   * nothing there is an empty page.
   */
  readonly records?: string | undefined
  readonly pagination?: Pagination.Pagination | undefined
  readonly incremental?: Incremental | undefined
  /**
   * Query parameters sent with every page. Values, like the path, may hold placeholders
   * (`{id}`, `{owner.id}`) filled from `vars` or the parent record.
   */
  readonly query?: Readonly<Record<string, string | number | boolean>> | undefined
  /** Values for placeholders in the path and query: plain values, or `Config` read when the stream is read. */
  readonly vars?: Readonly<Record<string, string | number | boolean | Config.Config<string>>> | undefined
  /** Read once per record of this parent, its fields filling the path's placeholders: `organizations/{id}/persons`. */
  readonly parent?: Parent | undefined
}

/** An endpoint to read. */
export interface EndpointSpec extends Omit<EndpointOptions, "parent"> {
  readonly path: string
  readonly parent?:
    | {
        readonly endpoint: EndpointSpec
        readonly as: string
        /** Set when the parent stream is not of this source: names it, and reading fails. */
        readonly foreign?: string | undefined
      }
    | undefined
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
    const shown = (url: URL) => Request.shown(url, requester.secretParams)
    const failOn = (spec: EndpointSpec, message: string) => fail(`${name}: ${message}`, describe(spec))

    const urlOf = (path: string, query: Readonly<Record<string, string | number | boolean>>) => {
      const url = new URL(path.replace(/^\//, ""), base)
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v))
      return url
    }

    /** The first page's URL: the path and query with their placeholders filled, paging and the incremental value. */
    const firstUrl = (spec: EndpointSpec, bindings: Template.Bindings, since: string | undefined) =>
      Effect.gen(function* () {
        const bad = (why: string) => failOn(spec, `${describe(spec)}: ${why}`)
        const path = yield* Either.mapLeft(Template.fill(spec.path, bindings, encodeURIComponent), bad)
        const query: Record<string, string | number | boolean> = {}
        for (const [k, v] of Object.entries(spec.query ?? {}))
          query[k] = typeof v === "string" ? yield* Either.mapLeft(Template.fill(v, bindings), bad) : v
        const url = urlOf(path, query)
        Pages.first(spec.pagination ?? Pagination.none, url)
        if (spec.incremental && since !== undefined) url.searchParams.set(spec.incremental.param, since)
        return url
      })

    const recordsOf = (spec: EndpointSpec, answer: Request.Answer, first: boolean) => {
      const found = Body.at(answer.body, spec.records)
      if (found === null) return Effect.succeed([])
      if (found === undefined)
        return (
          first && spec.records !== undefined
            ? Effect.logWarning(
                `${name}: GET ${shown(answer.url)}: nothing at "${spec.records}", read as an empty page; check the endpoint's records path if it should hold records`,
              )
            : Effect.void
        ).pipe(Effect.as([]))
      if (!Array.isArray(found))
        return Effect.fail(
          failOn(
            spec,
            `GET ${shown(answer.url)}: expected an array of records at ${spec.records ? `"${spec.records}"` : "the top of the body"}, found ${Body.kindOf(found)}`,
          ),
        )
      return Effect.succeed(found as ReadonlyArray<unknown>)
    }

    const keysOf = (spec: EndpointSpec) => (typeof spec.key === "string" ? [spec.key] : spec.key)

    /** Makes records of the items of a page, each given its parent's key when `carry` is set. */
    const toRecord = (
      spec: EndpointSpec,
      url: URL,
      carry: { readonly as: string; readonly key: unknown } | undefined,
    ) => {
      const keys = keysOf(spec)
      return (item: unknown): Effect.Effect<Source.SourceRecord, Source.SourceError> => {
        if (item === null || typeof item !== "object" || Array.isArray(item))
          return Effect.fail(
            failOn(spec, `GET ${shown(url)}: a record is ${Body.kindOf(item)}, not an object`),
          )
        const data: Readonly<Record<string, unknown>> =
          carry === undefined ? (item as Record<string, unknown>) : { ...item, [carry.as]: carry.key }
        const parts: Array<SourceKey.KeyPart> = []
        for (const k of keys) {
          const v = Body.at(data, k)
          if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")
            return Effect.fail(
              failOn(
                spec,
                `GET ${shown(url)}: a record has no usable key field "${k}" (found ${Body.kindOf(v)}): ${JSON.stringify(item).slice(0, 200)}`,
              ),
            )
          parts.push(v)
        }
        const key = SourceKey.make(parts.length === 1 ? parts[0]! : parts)
        if (!spec.incremental) return Effect.succeed({ key, data })
        const cursor = Body.at(data, spec.incremental.cursorField)
        const position: IncrementalRead.Position = {
          cursor: Json.toJson(cursor),
          key: parts.map(Json.toJson),
        }
        return Effect.succeed({ key, data, position, cursor })
      }
    }

    /** One collection (an endpoint, or a child endpoint for one parent), page after page. */
    const collection = (
      spec: EndpointSpec,
      bindings: Template.Bindings,
      since: string | undefined,
      carry: { readonly as: string; readonly key: unknown } | undefined,
    ) =>
      Stream.unwrap(
        Effect.map(firstUrl(spec, bindings, since), (first) => {
          const pagination = spec.pagination ?? Pagination.none
          // Every URL read so far in this collection: a cursor or next link that loops is caught, not followed forever.
          const seen = new Set<string>()
          return Stream.paginateChunkEffect<
            { readonly url: URL; readonly read: number },
            Source.SourceRecord,
            Source.SourceError,
            never
          >({ url: first, read: 0 }, ({ url, read }) =>
            Effect.gen(function* () {
              const answer = yield* requester.get(url)
              const items = yield* recordsOf(spec, answer, read === 0 && seen.size === 0)
              const records = yield* Effect.forEach(items, toRecord(spec, answer.url, carry))
              const progress = { read: read + items.length, count: items.length }
              const next = yield* Either.mapLeft(Pages.next(pagination, answer, progress), (why) =>
                failOn(spec, `GET ${shown(answer.url)}: ${why}`),
              )
              seen.add(url.href)
              if (Option.isSome(next) && seen.has(next.value.href))
                return yield* Effect.fail(
                  failOn(
                    spec,
                    `GET ${shown(answer.url)}: the next page is one already read (${shown(next.value)}); the pagination setting may not match the API`,
                  ),
                )
              return [
                Chunk.unsafeFromArray(records),
                Option.map(next, (url) => ({ url, read: progress.read })),
              ] as const
            }),
          )
        }),
      )

    /** Drops what the checkpoint already covers: earlier cursors, and the checkpoint's own record. A lookback keeps all. */
    const keep = (spec: EndpointSpec, after: IncrementalRead.Position | undefined) => {
      if (!spec.incremental || after === undefined || spec.incremental.lookback !== undefined)
        return () => true
      const mark = JSON.stringify(after.key)
      return (record: Source.SourceRecord) => {
        const position = record.position as IncrementalRead.Position
        const c = IncrementalRead.compareCursor(position.cursor, after.cursor)
        return c > 0 || (c === 0 && JSON.stringify(position.key) !== mark)
      }
    }

    /** Gives each record the greatest position read so far, the checkpoint's included: the checkpoint never moves back. */
    const greatestSoFar = (after: IncrementalRead.Position | undefined) => {
      let greatest = after
      return (record: Source.SourceRecord): Source.SourceRecord => {
        const own = record.position as IncrementalRead.Position
        if (greatest === undefined || IncrementalRead.compare(own, greatest) >= 0) {
          greatest = own
          return record
        }
        return { ...record, position: greatest }
      }
    }

    /**
     * Child records come parent by parent, not in cursor order, so the checkpoint cannot move
     * until the last parent is read: every record carries the checkpoint the read started from
     * (an interrupted read starts again from it), and the last record carries the greatest
     * position read. It is held back until the stream ends to know it is the last.
     */
    const greatestAtEnd =
      (after: IncrementalRead.Position | undefined) =>
      (records: Stream.Stream<Source.SourceRecord, Source.SourceError>) =>
        Stream.suspend(() => {
          let greatest = after
          let held: Source.SourceRecord | undefined
          const note = (record: Source.SourceRecord) => {
            const own = record.position as IncrementalRead.Position
            if (greatest === undefined || IncrementalRead.compare(own, greatest) >= 0) greatest = own
          }
          return records.pipe(
            Stream.mapChunks((chunk) => {
              const out: Array<Source.SourceRecord> = []
              for (const record of chunk) {
                note(record)
                if (held !== undefined) {
                  const start = after ?? {
                    cursor: null,
                    key: (held.position as IncrementalRead.Position).key,
                  }
                  out.push({ ...held, position: start })
                }
                held = record
              }
              return Chunk.unsafeFromArray(out)
            }),
            Stream.concat(
              Stream.suspend(() =>
                held === undefined ? Stream.empty : Stream.make({ ...held, position: greatest }),
              ),
            ),
          )
        })

    const checkAfter = (spec: EndpointSpec, after: Json.Json | undefined) =>
      after === undefined ||
      after === null ||
      (spec.incremental && typeof after === "object" && !Array.isArray(after) && "cursor" in after)
        ? Effect.void
        : Effect.fail(
            failOn(
              spec,
              `${describe(spec)}: the checkpoint ${JSON.stringify(after).slice(0, 200)} does not fit this stream (${spec.incremental ? "expected { cursor, key }" : "it is not incremental"}); reset the entity's checkpoint if the stream changed`,
            ),
          )

    const resolveVars = (spec: EndpointSpec) =>
      Effect.gen(function* () {
        const vars: Record<string, string | number | boolean> = {}
        for (const [k, v] of Object.entries(spec.vars ?? {}))
          vars[k] = Config.isConfig(v)
            ? yield* Effect.mapError(v, (cause) =>
                failOn(spec, `${describe(spec)}: the value of {${k}} is not configured: ${String(cause)}`),
              )
            : v
        return vars
      })

    const parentKeyOf = (parent: EndpointSpec, record: Source.SourceRecord) => {
      const keys = keysOf(parent)
      return keys.length === 1 ? Body.at(record.data, keys[0]!) : keys.map((k) => Body.at(record.data, k))
    }

    const records = (
      spec: EndpointSpec,
      after: Json.Json | undefined,
    ): Effect.Effect<Stream.Stream<Source.SourceRecord, Source.SourceError>, Source.SourceError> =>
      Effect.gen(function* () {
        yield* checkAfter(spec, after)
        const vars = yield* resolveVars(spec)
        const from = spec.incremental ? IncrementalRead.positionOf(after) : undefined
        const since = spec.incremental
          ? yield* Either.mapLeft(IncrementalRead.since(spec.incremental, from), (why) =>
              failOn(spec, `${describe(spec)}: cannot write the incremental value: ${why}`),
            )
          : undefined
        const parent = spec.parent
        if (parent === undefined) {
          const positioned = spec.incremental ? greatestSoFar(from) : (r: Source.SourceRecord) => r
          return collection(spec, { vars, parent: undefined }, since, undefined).pipe(
            Stream.filter(keep(spec, from)),
            Stream.map(positioned),
          )
        }
        if (parent.foreign !== undefined)
          return yield* Effect.fail(
            failOn(
              spec,
              `${describe(spec)}: its parent must be an endpoint of this source, not of ${parent.foreign}`,
            ),
          )
        // Children may change without their parent changing: every parent is read.
        const parentSpec: EndpointSpec = { ...parent.endpoint, incremental: undefined }
        const parents = yield* records(parentSpec, undefined)
        const children = parents.pipe(
          Stream.flatMap((p) =>
            collection(spec, { vars, parent: p.data }, since, {
              as: parent.as,
              key: parentKeyOf(parentSpec, p),
            }),
          ),
          Stream.filter(keep(spec, from)),
        )
        return spec.incremental ? greatestAtEnd(from)(children) : children
      })

    const read = (spec: EndpointSpec, request: Source.ReadRequest) =>
      Stream.unwrap(
        Effect.map(records(spec, request.after), (s) =>
          request.limit === undefined ? s : Stream.take(s, request.limit),
        ),
      )

    const check = (spec: EndpointSpec) => Effect.asVoid(Stream.runDrain(Stream.take(read(spec, {}), 1)))

    const get = (path: string, query: Readonly<Record<string, string>> = {}) =>
      Effect.map(requester.get(urlOf(path, query)), (answer) => answer.body)

    const ping = requester.ping(urlOf(config.pingPath ?? "", {}))

    return { name, ping, check, read, get }
  })

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
      const client = yield* make({ ...config, baseUrl })
      // What the pipeline's state is bound to: the API's origin (no path, query or credentials).
      const location = SecretUrl.location(baseUrl)
      return location === undefined ? client : { ...client, location }
    }),
  }
  const endpoint = (path: string, options: EndpointOptions): EndpointSpec => {
    const { parent, ...rest_ } = options
    if (parent === undefined) return { path, ...rest_ }
    return {
      path,
      ...rest_,
      parent: {
        endpoint: parent.stream.spec as EndpointSpec,
        as: parent.as ?? "parent_key",
        foreign:
          parent.stream.source === rest
            ? undefined
            : `the ${parent.stream.source.kind} source ${parent.stream.source.name}`,
      },
    }
  }
  return { ...rest, endpoint: (path, options) => Source.stream(rest, endpoint(path, options)) }
}
