import * as Source from "@b24etl/core/Source"
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Clock, Data, Duration, Effect, Option, Random, Ref, Schedule } from "effect"
import type * as RestAuth from "../../RestAuth.js"
import * as Secret from "../secret.js"

/** A page as the API answered it. */
export interface Answer {
  readonly url: URL
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

export interface Options {
  readonly source: string
  readonly auth: RestAuth.Auth | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly timeout: Duration.Duration
  readonly retries: number
  readonly backoff: Duration.Duration
  readonly maxRetryAfter: Duration.Duration
  /** Wraps each attempt: the rate limiter. */
  readonly limit: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** The longest wait for the pre-flight request's answer (or the source's own timeout, if shorter). */
const pingTimeout = Duration.seconds(5)

/** Worth another attempt: 429, 5xx, a timeout, a broken connection. */
class Transient extends Data.TaggedError("Transient")<{
  readonly message: string
  readonly retryAfter: Option.Option<Duration.Duration>
}> {}

/** The access token was refused; an OAuth2 token is fetched again once. */
class Unauthorized extends Data.TaggedError("Unauthorized")<{ readonly message: string }> {}

const statusText = (status: number) =>
  status === 401
    ? "401 Unauthorized"
    : status === 403
      ? "403 Forbidden"
      : status === 404
        ? "404 Not Found"
        : status === 429
          ? "429 Too Many Requests"
          : String(status)

/** `Retry-After` as seconds or an HTTP date. */
const retryAfter = (header: string | undefined, now: number): Option.Option<Duration.Duration> => {
  if (header === undefined) return Option.none()
  const trimmed = header.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Option.some(Duration.seconds(Number(trimmed)))
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? Option.none() : Option.some(Duration.millis(Math.max(0, at - now)))
}

/** A URL as messages show it: secrets in the query replaced by `***`. */
export const shown = (url: URL, secretParams: ReadonlyArray<string>): string => {
  const copy = new URL(url)
  for (const name of secretParams) if (copy.searchParams.has(name)) copy.searchParams.set(name, "***")
  if (copy.password) copy.password = "***"
  return decodeURIComponent(`${copy.pathname}${copy.search}`).replace(/%2A/gi, "*")
}

const snippet = (text: string) => {
  const one = text.replace(/\s+/g, " ").trim()
  return one.length > 200 ? `${one.slice(0, 197)}...` : one
}

/**
 * Makes the requester of one connected source: auth applied, rate-limited, timed out, retried
 * on 429 / 5xx / network errors with exponential backoff or the server's `Retry-After`.
 */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const auth = options.auth
    const secretParams = auth?._tag === "ApiKey" && auth.in === "query" ? [auth.name] : []
    const secret =
      auth === undefined
        ? undefined
        : yield* Secret.resolve(
            options.source,
            auth._tag === "Bearer"
              ? "the bearer token"
              : auth._tag === "ApiKey"
                ? "the API key"
                : auth._tag === "Basic"
                  ? "the password"
                  : "the client secret",
            auth._tag === "Bearer"
              ? auth.token
              : auth._tag === "ApiKey"
                ? auth.value
                : auth._tag === "Basic"
                  ? auth.password
                  : auth.clientSecret,
          )
    const token = yield* Ref.make(Option.none<{ readonly value: string; readonly expires: number }>())

    const fail = (message: string, cause?: unknown) =>
      new Source.SourceError({
        source: options.source,
        message: secret ? scrub(message, secret) : message,
        cause,
      })

    const fetchToken = (oauth: RestAuth.OAuth2ClientCredentials) =>
      Effect.gen(function* () {
        const request = HttpClientRequest.post(oauth.tokenUrl).pipe(
          HttpClientRequest.basicAuth(oauth.clientId, secret!),
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyUrlParams({
            grant_type: "client_credentials",
            ...(oauth.scope === undefined ? {} : { scope: oauth.scope }),
          }),
        )
        const where = `OAuth2 token request to ${new URL(oauth.tokenUrl).origin}${new URL(oauth.tokenUrl).pathname}`
        const response = yield* http.execute(request).pipe(
          Effect.timeoutFail({ duration: options.timeout, onTimeout: () => fail(`${where} timed out`) }),
          Effect.mapError((e) =>
            e instanceof Source.SourceError ? e : fail(`${where} failed: ${e.message}`),
          ),
        )
        const text = yield* response.text.pipe(Effect.mapError((e) => fail(`${where} failed: ${e.message}`)))
        if (response.status < 200 || response.status >= 300)
          return yield* Effect.fail(
            fail(
              `${where} was refused: ${statusText(response.status)} ${snippet(text)}; check the client id and secret`,
            ),
          )
        const body = yield* Effect.try({
          try: () => JSON.parse(text) as { access_token?: unknown; expires_in?: unknown },
          catch: () => fail(`${where}: the answer is not JSON`),
        })
        if (typeof body.access_token !== "string")
          return yield* Effect.fail(fail(`${where}: the answer has no access_token`))
        const now = yield* Clock.currentTimeMillis
        const lifetime = typeof body.expires_in === "number" ? body.expires_in * 1000 : 3_600_000
        const value = { value: body.access_token, expires: now + Math.max(0, lifetime - 30_000) }
        yield* Ref.set(token, Option.some(value))
        return value.value
      })

    const accessToken = (oauth: RestAuth.OAuth2ClientCredentials) =>
      Effect.gen(function* () {
        const cached = yield* Ref.get(token)
        const now = yield* Clock.currentTimeMillis
        if (Option.isSome(cached) && cached.value.expires > now) return cached.value.value
        return yield* fetchToken(oauth)
      })

    const authorize = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.gen(function* () {
        if (auth === undefined) return request
        switch (auth._tag) {
          case "Bearer":
            return HttpClientRequest.bearerToken(request, secret!)
          case "Basic":
            return HttpClientRequest.basicAuth(request, auth.username, secret!)
          case "ApiKey":
            return auth.in === "header"
              ? HttpClientRequest.setHeader(request, auth.name, secret!)
              : HttpClientRequest.setUrlParam(request, auth.name, secret!)
          case "OAuth2ClientCredentials":
            return HttpClientRequest.bearerToken(request, yield* accessToken(auth))
        }
      })

    const once = (url: URL) =>
      Effect.gen(function* () {
        const where = `GET ${shown(url, secretParams)}`
        const request = yield* authorize(
          HttpClientRequest.get(url).pipe(
            HttpClientRequest.setHeaders(options.headers),
            HttpClientRequest.acceptJson,
          ),
        )
        const { response, text } = yield* http.execute(request).pipe(
          Effect.flatMap((response: HttpClientResponse.HttpClientResponse) =>
            Effect.map(response.text, (text) => ({ response, text })),
          ),
          Effect.timeoutFail({
            duration: options.timeout,
            onTimeout: () =>
              new Transient({
                message: `${where} timed out after ${Duration.format(options.timeout)}`,
                retryAfter: Option.none(),
              }),
          }),
          Effect.catchTags({
            RequestError: (e) =>
              Effect.fail(
                new Transient({ message: `${where} failed: ${e.message}`, retryAfter: Option.none() }),
              ),
            ResponseError: (e) =>
              Effect.fail(
                new Transient({ message: `${where} failed: ${e.message}`, retryAfter: Option.none() }),
              ),
          }),
          options.limit,
        )
        const status = response.status
        if (status === 429 || status >= 500) {
          const now = yield* Clock.currentTimeMillis
          return yield* Effect.fail(
            new Transient({
              message: `${where}: ${statusText(status)} ${snippet(text)}`.trim(),
              retryAfter: retryAfter(response.headers["retry-after"], now),
            }),
          )
        }
        if (status === 401 || status === 403)
          return yield* Effect.fail(
            new Unauthorized({
              message: `${where}: ${statusText(status)}; check the source's credentials (${auth?._tag ?? "no auth configured"})`,
            }),
          )
        if (status < 200 || status >= 300)
          return yield* Effect.fail(fail(`${where}: ${statusText(status)} ${snippet(text)}`.trim()))
        const body = yield* Effect.try({
          try: () => JSON.parse(text) as unknown,
          catch: (cause) =>
            fail(
              `${where}: the body is not JSON (${cause instanceof Error ? cause.message : String(cause)}): ${snippet(text)}`,
            ),
        })
        return { url, status, headers: response.headers, body } satisfies Answer
      })

    const delay = (attempt: number, error: Transient) =>
      Option.match(error.retryAfter, {
        onSome: Effect.succeed,
        onNone: () =>
          Effect.map(Random.nextRange(0.5, 1.5), (jitter) =>
            Duration.millis(Duration.toMillis(options.backoff) * 2 ** attempt * jitter),
          ),
      })

    const withRetries = (
      url: URL,
      attempt: number,
      refreshed: boolean,
    ): Effect.Effect<Answer, Source.SourceError> =>
      once(url).pipe(
        Effect.catchTags({
          Transient: (error) =>
            Effect.gen(function* () {
              if (attempt >= options.retries)
                return yield* Effect.fail(fail(`${error.message} (gave up after ${attempt + 1} attempts)`))
              const wait = yield* delay(attempt, error)
              if (Duration.greaterThan(wait, options.maxRetryAfter))
                return yield* Effect.fail(
                  fail(
                    `${error.message}: the server asks to retry after ${Duration.format(wait)}, longer than allowed`,
                  ),
                )
              yield* Effect.logDebug(
                `${options.source}: ${error.message}; retrying in ${Duration.format(wait)}`,
              )
              yield* Effect.sleep(wait)
              return yield* withRetries(url, attempt + 1, refreshed)
            }),
          Unauthorized: (error) =>
            auth?._tag === "OAuth2ClientCredentials" && !refreshed
              ? Ref.set(token, Option.none()).pipe(Effect.zipRight(withRetries(url, attempt, true)))
              : Effect.fail(fail(error.message)),
        }),
      )

    /**
     * The pre-flight request: one GET of `url` with the source's auth, two tries of at most
     * `pingTimeout` each. Any answer but 401/403 shows the API can be reached (a base URL may well
     * answer 404); 401/403, or an OAuth2 token refused, means the credentials are wrong.
     */
    const ping = (url: URL): Effect.Effect<void, Source.SourceError> => {
      const timeout = Duration.min(options.timeout, pingTimeout)
      const where = `GET ${shown(url, secretParams)}`
      const attempt = Effect.gen(function* () {
        const request = yield* authorize(
          HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(options.headers)),
        )
        const response = yield* http.execute(request).pipe(
          Effect.flatMap((r: HttpClientResponse.HttpClientResponse) => Effect.as(r.text, r)),
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => fail(`${where}: no answer within ${Duration.format(timeout)}`),
          }),
          Effect.mapError((e) =>
            e instanceof Source.SourceError ? e : fail(`${where} failed: ${e.message}`),
          ),
          options.limit,
        )
        if (response.status === 401 || response.status === 403)
          return yield* Effect.fail(
            new Unauthorized({
              message: `${where}: ${statusText(response.status)}; check the source's credentials (${auth?._tag ?? "no auth configured"})`,
            }),
          )
      })
      return attempt.pipe(
        // A refused credential is final; a network failure gets one more try.
        Effect.retry({
          times: 1,
          schedule: Schedule.spaced("500 millis"),
          while: (e) => e._tag === "SourceError",
        }),
        Effect.catchTag("Unauthorized", (e) => Effect.fail(fail(e.message))),
      )
    }

    return { get: (url: URL) => withRetries(url, 0, false), ping, secretParams }
  })

const scrub = (text: string, secret: string) => (secret.length < 3 ? text : text.split(secret).join("***"))
