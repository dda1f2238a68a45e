/**
 * A client of one Bitrix24 portal's REST API: JSON POST over HTTPS (plain http only for loopback),
 * inbound-webhook or OAuth authentication (one merged refresh on `expired_token`), the portal's
 * shared rate limiter, operating-time pauses, and bounded, jittered retries of what is safe to
 * retry. Errors are typed by what the caller can do about them; none carries a secret.
 *
 * ```ts
 * const client = yield* Bitrix24Client.make({ auth: { _tag: "Webhook", url: Redacted.make(hookUrl) } })
 * const answer = yield* client.call("crm.item.list", { entityTypeId: 4, start: -1 })
 * ```
 */
import { HttpClient, type HttpClientError, HttpClientRequest } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Clock, Context, Data, Duration, Effect, Layer, Redacted, Ref, Schedule, type Scope } from "effect"
import * as Url from "./internal/url.js"
import * as OperatingTime from "./OperatingTime.js"
import * as RateLimiter from "./RateLimiter.js"

// ---------------------------------------------------------------------------------------------
// Errors

/** 503 `QUERY_LIMIT_EXCEEDED` or 429 `OPERATION_TIME_LIMIT`: nothing was done; retry later. */
export class LimitError extends Data.TaggedError("Bitrix24LimitError")<{
  readonly method: string
  readonly status: number
  readonly code: string
  readonly message: string
}> {}

/**
 * A network failure, a timeout or a 5xx answer. `sent` tells whether the request may have
 * reached the portal (and so may have been applied): a refused connection was not sent, a reset
 * or timeout after sending was.
 */
export class TransientError extends Data.TaggedError("Bitrix24TransientError")<{
  readonly method: string
  readonly status?: number | undefined
  readonly code: string
  readonly message: string
  readonly sent: boolean
}> {}

/**
 * Retrying cannot help: bad or expired credentials, a missing permission or scope (`auth`),
 * a wrong URL, an unknown method or entity type (`config`), or the vendor's manual block
 * `OVERLOAD_LIMIT` (`blocked`).
 */
export class FatalError extends Data.TaggedError("Bitrix24FatalError")<{
  readonly method: string
  readonly kind: "auth" | "config" | "blocked"
  readonly status?: number | undefined
  readonly code: string
  readonly message: string
}> {}

/** The portal refused the request's data (HTTP 400 with a field or value error). */
export class ValidationError extends Data.TaggedError("Bitrix24ValidationError")<{
  readonly method: string
  readonly status: number
  readonly code: string
  readonly message: string
}> {}

export type Bitrix24Error = LimitError | TransientError | FatalError | ValidationError

/** The access token expired (handled inside the client by one refresh). */
class Expired extends Data.TaggedError("Expired")<{ readonly generation: number }> {}

const authCodes = new Set([
  "NO_AUTH_FOUND",
  "INVALID_CREDENTIALS",
  "INSUFFICIENT_SCOPE",
  "ACCESS_DENIED",
  "USER_ACCESS_ERROR",
  "INVALID_TOKEN",
  "WRONG_AUTH_TYPE",
  "AUTHORIZATION_ERROR",
  "ALLOWED_ONLY_INTRANET_USER",
  "PAYMENT_REQUIRED",
  "EXPIRED_TOKEN",
  "INVALID_GRANT",
  "INVALID_CLIENT",
])

const configCodes = new Set([
  "INVALID_REQUEST",
  "ERROR_METHOD_NOT_FOUND",
  "NOT_FOUND",
  "PORTAL_DELETED",
  "ERROR_MANIFEST_IS_NOT_AVAILABLE",
  "ERROR_BATCH_METHOD_NOT_ALLOWED",
  "MAX_IMPORT_BATCH_SIZE_EXCEEDED",
  "CREATE_DYNAMIC_ITEM_RESTRICTED",
])

const hints: Readonly<Record<string, string>> = {
  auth: "check the webhook URL (or OAuth tokens) and that its user has the crm scope and import permission",
  config: "check the portal URL, the entity type and the sink configuration",
  blocked: "the vendor has blocked the REST API of this portal (OVERLOAD_LIMIT): contact Bitrix24 support",
}

/** Classifies an error answer of the portal. */
export const classify = (
  method: string,
  status: number,
  code: string,
  description: string,
  portal?: string,
): Bitrix24Error => {
  const upper = code.toUpperCase()
  const text = `${method}${portal === undefined ? "" : ` on ${portal}`}: ${code}${description ? ` ${description}` : ""} (HTTP ${status})`
  if (upper === "OVERLOAD_LIMIT") {
    return new FatalError({ method, kind: "blocked", status, code, message: `${text}; ${hints.blocked}` })
  }
  if (upper === "QUERY_LIMIT_EXCEEDED" || upper === "OPERATION_TIME_LIMIT" || status === 429) {
    return new LimitError({ method, status, code, message: text })
  }
  if (authCodes.has(upper) || status === 401 || status === 403) {
    return new FatalError({ method, kind: "auth", status, code, message: `${text}; ${hints.auth}` })
  }
  if (configCodes.has(upper) || status === 404 || status === 405) {
    return new FatalError({ method, kind: "config", status, code, message: `${text}; ${hints.config}` })
  }
  if (status === 503 || status >= 500) {
    return new TransientError({ method, status, code, message: text, sent: status !== 503 })
  }
  return new ValidationError({ method, status, code, message: text })
}

// ---------------------------------------------------------------------------------------------
// Configuration

export interface WebhookAuth {
  readonly _tag: "Webhook"
  /** `https://<portal>/rest/<user id>/<code>/` */
  readonly url: Redacted.Redacted<string>
}

export interface OAuthTokens {
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken: Redacted.Redacted<string>
}

export interface OAuthAuth {
  readonly _tag: "OAuth"
  /** `https://<portal>`; methods are called at `<portal>/rest/<method>` with `auth` in the body. */
  readonly portalUrl: string
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken: Redacted.Redacted<string>
  /**
   * Token endpoint. Default: `https://oauth.bitrix.info/oauth/token/`, or `<portal>/oauth/token/`
   * for a loopback portal (the emulator).
   */
  readonly tokenUrl?: string | undefined
  /**
   * Called with the new pair after a refresh. Refresh tokens rotate: store the new one, or the
   * next process starts with a refresh token the portal no longer accepts.
   */
  readonly onRefresh?: ((tokens: OAuthTokens) => Effect.Effect<void>) | undefined
}

export type Auth = WebhookAuth | OAuthAuth

export interface RetryOptions {
  /** Retries after the first attempt (default 8). */
  readonly times?: number | undefined
  /** First backoff delay, doubled each retry and jittered (default 500 ms). */
  readonly base?: Duration.DurationInput | undefined
  /** Longest single backoff delay (default 30 s). */
  readonly cap?: Duration.DurationInput | undefined
  /**
   * Retry 5xx answers (other than 503) of non-idempotent calls (`crm.item.batchImport`).
   * Default false: a 500 may come after the portal created some items, so it is reported as
   * ambiguous and the runner looks the items up before sending them again.
   */
  readonly serverErrorsOnWrites?: boolean | undefined
}

export interface Options {
  readonly auth: Auth
  /** Default: standard (2/s, burst 50). */
  readonly limits?: RateLimiter.Limits | undefined
  /** Longest wait for one answer (default 75 s: the portal stops a request at 60 s). */
  readonly timeout?: Duration.DurationInput | undefined
  readonly retry?: RetryOptions | undefined
  readonly operatingTime?: Partial<OperatingTime.Config> | undefined
  /** Extra CA certificate (PEM) to trust, e.g. the emulator's self-signed one. */
  readonly ca?: string | undefined
}

/** An answer: `result`, and for lists `total`/`next`; `time` as the portal reports it. */
export interface Answer {
  readonly result: unknown
  readonly total?: number | undefined
  readonly next?: number | undefined
  readonly time?: (OperatingTime.Time & Record<string, unknown>) | undefined
}

export interface CallOptions {
  /**
   * Whether repeating the call after it may have been applied is harmless (default true).
   * `crm.item.batchImport` is not: a reset after sending fails with `sent: true` at once.
   */
  readonly idempotent?: boolean | undefined
  /** Other methods whose operating time this call spends (the commands of a `batch`). */
  readonly budgetMethods?: ReadonlyArray<string> | undefined
}

export interface Client {
  /** The portal for messages, with no secret: `https://acme.bitrix24.com/rest/1/…/` (code masked). */
  readonly portal: string
  /** The portal's origin, the key of its shared rate limiter. */
  readonly origin: string
  readonly limits: RateLimiter.Limits
  readonly operating: OperatingTime.Tracker
  readonly call: (
    method: string,
    params?: Record<string, unknown>,
    options?: CallOptions,
  ) => Effect.Effect<Answer, Bitrix24Error>
}

export class Bitrix24Client extends Context.Tag("@b24etl/sinks/Bitrix24Client")<Bitrix24Client, Client>() {}

// ---------------------------------------------------------------------------------------------
// Implementation

const notSent = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "EADDRNOTAVAIL",
])

const errorCode = (cause: unknown): string | undefined => {
  if (typeof cause !== "object" || cause === null) return undefined
  const c = cause as { code?: unknown; errors?: ReadonlyArray<unknown>; cause?: unknown }
  if (typeof c.code === "string") return c.code
  if (Array.isArray(c.errors) && c.errors.length > 0) return errorCode(c.errors[0])
  return errorCode(c.cause)
}

const errorText = (cause: unknown): string => {
  const message = cause instanceof Error ? cause.message : String(cause)
  return Url.redact(message)
}

const isTls = (code: string | undefined) =>
  code !== undefined && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)

const fromTransport = (method: string, portal: string, cause: unknown): Bitrix24Error => {
  const code = errorCode(cause)
  if (isTls(code)) {
    return new FatalError({
      method,
      kind: "config",
      code: code!,
      message: `TLS failure talking to ${portal}: ${errorText(cause)}`,
    })
  }
  return new TransientError({
    method,
    code: code ?? "NETWORK_ERROR",
    message: `network failure talking to ${portal}: ${code ?? ""} ${errorText(cause)}`.replace(/\s+/g, " "),
    sent: code === undefined || !notSent.has(code),
  })
}

const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

interface Raw {
  readonly status: number
  readonly text: string
}

const defaultTokenUrl = (origin: string) =>
  Url.isLoopback(new URL(origin).hostname)
    ? `${origin}/oauth/token/`
    : "https://oauth.bitrix.info/oauth/token/"

/** Opens a client. Fails with a `config` `FatalError` for a malformed or non-HTTPS URL. */
export const make = (options: Options): Effect.Effect<Client, FatalError, Scope.Scope> =>
  Effect.gen(function* () {
    const auth = options.auth
    let origin: string
    let portal: string
    let endpoint: (method: string) => string
    let tokenUrl = ""
    if (auth._tag === "Webhook") {
      const hook = Url.parseWebhook(Redacted.value(auth.url))
      if ("error" in hook) {
        return yield* new FatalError({
          method: "connect",
          kind: "config",
          code: "INVALID_URL",
          message: hook.error,
        })
      }
      origin = hook.origin
      portal = hook.redacted
      endpoint = (method) => `${hook.base}${encodeURIComponent(method)}`
    } else {
      const p = Url.parsePortal(auth.portalUrl)
      if ("error" in p) {
        return yield* new FatalError({
          method: "connect",
          kind: "config",
          code: "INVALID_URL",
          message: p.error,
        })
      }
      const t = Url.parseTokenUrl(auth.tokenUrl ?? defaultTokenUrl(p.origin))
      if ("error" in t) {
        return yield* new FatalError({
          method: "connect",
          kind: "config",
          code: "INVALID_URL",
          message: t.error,
        })
      }
      origin = p.origin
      portal = `${p.origin} (OAuth app)`
      tokenUrl = t.url
      endpoint = (method) => `${p.origin}/rest/${encodeURIComponent(method)}`
    }

    const limits = options.limits ?? RateLimiter.standard
    const shared = yield* RateLimiter.acquire(origin, limits, options.operatingTime)
    const agent = yield* NodeHttpClient.makeAgent({
      keepAlive: true,
      maxSockets: 64,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    })
    const http = (yield* NodeHttpClient.make.pipe(
      Effect.provideService(NodeHttpClient.HttpAgent, agent),
    )).pipe(
      HttpClient.withTracerPropagation(false),
      // Request spans carry the full URL, and a webhook URL holds its secret: no request spans.
      HttpClient.withTracerDisabledWhen(() => true),
    )
    const timeout = Duration.decode(options.timeout ?? "75 seconds")

    const post = (
      method: string,
      request: HttpClientRequest.HttpClientRequest,
    ): Effect.Effect<Raw, Bitrix24Error> =>
      http.execute(request).pipe(
        Effect.flatMap((response) =>
          Effect.map(response.text, (text) => ({ status: response.status, text })),
        ),
        Effect.scoped,
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new TransientError({
              method,
              code: "TIMEOUT",
              message: `no answer from ${portal} within ${Duration.format(timeout)}`,
              sent: true,
            }),
        }),
        Effect.catchTags({
          RequestError: (e: HttpClientError.RequestError) =>
            Effect.fail(
              e.reason === "Transport"
                ? fromTransport(method, portal, e.cause)
                : new FatalError({
                    method,
                    kind: "config",
                    code: "INVALID_REQUEST",
                    message: `cannot build the request for ${method} (${e.reason})`,
                  }),
            ),
          ResponseError: (e: HttpClientError.ResponseError) =>
            Effect.fail(fromTransport(method, portal, e.cause)),
        }),
      )

    // OAuth tokens and the merged refresh.
    const tokens = yield* Ref.make(
      auth._tag === "OAuth"
        ? { access: auth.accessToken, refresh: auth.refreshToken, generation: 0 }
        : { access: Redacted.make(""), refresh: Redacted.make(""), generation: 0 },
    )
    const refreshLock = yield* Effect.makeSemaphore(1)
    const refresh = (generation: number): Effect.Effect<void, Bitrix24Error> =>
      refreshLock.withPermits(1)(
        Effect.gen(function* () {
          if (auth._tag !== "OAuth") return
          const current = yield* Ref.get(tokens)
          // Another call refreshed while this one waited: use its token.
          if (current.generation !== generation) return
          const body = new URLSearchParams({
            grant_type: "refresh_token",
            client_id: auth.clientId,
            client_secret: Redacted.value(auth.clientSecret),
            refresh_token: Redacted.value(current.refresh),
          }).toString()
          const raw = yield* post(
            "oauth.token",
            HttpClientRequest.post(tokenUrl).pipe(
              HttpClientRequest.bodyText(body, "application/x-www-form-urlencoded"),
              HttpClientRequest.acceptJson,
            ),
          ).pipe(
            // The API call that needed the refresh was not applied, so it may be repeated.
            Effect.mapError((e) =>
              e._tag === "Bitrix24TransientError" ? new TransientError({ ...e, sent: false }) : e,
            ),
          )
          const json = parseJson(raw.text)
          if (raw.status !== 200 || !isObject(json) || typeof json.access_token !== "string") {
            const code = isObject(json) && typeof json.error === "string" ? json.error : `HTTP_${raw.status}`
            const description =
              isObject(json) && typeof json.error_description === "string" ? json.error_description : ""
            return yield* new FatalError({
              method: "oauth.token",
              kind: "auth",
              status: raw.status,
              code,
              message: `refreshing the OAuth access token failed: ${code}${description ? ` (${description})` : ""}; check the client id, secret and refresh token`,
            })
          }
          const next = {
            access: Redacted.make(json.access_token),
            refresh:
              typeof json.refresh_token === "string" ? Redacted.make(json.refresh_token) : current.refresh,
            generation: generation + 1,
          }
          yield* Ref.set(tokens, next)
          yield* Effect.logInfo(`Bitrix24: refreshed the OAuth access token for ${portal}`)
          if (auth.onRefresh !== undefined) {
            yield* auth.onRefresh({ accessToken: next.access, refreshToken: next.refresh })
          }
        }),
      )

    const interpret = (
      method: string,
      raw: Raw,
      generation: number,
    ): Effect.Effect<Answer, Bitrix24Error | Expired> =>
      Effect.gen(function* () {
        const json = parseJson(raw.text)
        if (raw.status === 200 && isObject(json) && "result" in json) {
          const time = isObject(json.time) ? (json.time as Answer["time"]) : undefined
          shared.operating.record(method, time)
          return {
            result: json.result,
            total: typeof json.total === "number" ? json.total : undefined,
            next: typeof json.next === "number" ? json.next : undefined,
            time,
          }
        }
        if (!isObject(json) || typeof json.error !== "string") {
          return yield* new TransientError({
            method,
            status: raw.status,
            code: `HTTP_${raw.status}`,
            message: `unexpected answer from ${portal} to ${method} (HTTP ${raw.status}, ${raw.text.length} bytes, not a REST answer)`,
            sent: raw.status !== 503,
          })
        }
        const code = json.error
        const description =
          typeof json.error_description === "string" ? Url.redact(json.error_description) : ""
        if (code.toLowerCase() === "expired_token" && auth._tag === "OAuth")
          return yield* new Expired({ generation })
        if (code.toUpperCase() === "OPERATION_TIME_LIMIT") {
          shared.operating.exceeded(method, yield* Clock.currentTimeMillis)
        }
        if (code.toUpperCase() === "QUERY_LIMIT_EXCEEDED") yield* shared.limit.full
        return yield* Effect.fail(classify(method, raw.status, code, description, portal))
      })

    const retry = options.retry ?? {}
    const cap = Duration.decode(retry.cap ?? "30 seconds")
    const schedule = Schedule.exponential(retry.base ?? "500 millis", 2).pipe(
      Schedule.jittered,
      Schedule.modifyDelay((_, d) => Duration.min(d, cap)),
      Schedule.intersect(Schedule.recurs(retry.times ?? 8)),
    )

    const call = (
      method: string,
      params: Record<string, unknown> = {},
      callOptions: CallOptions = {},
    ): Effect.Effect<Answer, Bitrix24Error> => {
      const idempotent = callOptions.idempotent ?? true
      const budget = [method, ...(callOptions.budgetMethods ?? [])]
      const attempt = Effect.gen(function* () {
        yield* OperatingTime.awaitBudget(shared.operating, budget)
        const token = yield* Ref.get(tokens)
        const body = auth._tag === "OAuth" ? { ...params, auth: Redacted.value(token.access) } : params
        const request = HttpClientRequest.post(endpoint(method)).pipe(
          HttpClientRequest.bodyUnsafeJson(body),
          HttpClientRequest.acceptJson,
        )
        const raw = yield* shared.limit(post(method, request))
        return yield* interpret(method, raw, token.generation)
      })
      const authenticated = attempt.pipe(
        Effect.catchTag("Expired", (e) => Effect.zipRight(refresh(e.generation), attempt)),
        Effect.catchTag("Expired", () =>
          Effect.fail(
            new FatalError({
              method,
              kind: "auth",
              status: 401,
              code: "expired_token",
              message: `${method} on ${portal}: the access token was refused as expired right after a refresh; ${hints.auth}`,
            }),
          ),
        ),
      )
      const retryable = (e: Bitrix24Error): boolean =>
        e._tag === "Bitrix24LimitError" ||
        (e._tag === "Bitrix24TransientError" &&
          (!e.sent || idempotent || (retry.serverErrorsOnWrites === true && e.status !== undefined)))
      return authenticated.pipe(
        Effect.tapError((e) =>
          retryable(e)
            ? Effect.logDebug(`Bitrix24: ${method} failed (${e.code}), retrying with backoff`)
            : Effect.void,
        ),
        Effect.retry({ schedule, while: retryable }),
        Effect.withSpan(`Bitrix24.${method}`),
      )
    }

    return { portal, origin, limits: shared.limits, operating: shared.operating, call }
  })

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export const layer = (options: Options): Layer.Layer<Bitrix24Client, FatalError> =>
  Layer.scoped(Bitrix24Client, make(options))
