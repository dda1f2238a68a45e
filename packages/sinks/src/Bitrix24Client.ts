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
import type { RateBuckets } from "@b24etl/core/RateBuckets"
import { HttpClientRequest } from "@effect/platform"
import { Context, type Duration, Effect, Layer, Redacted, type Scope } from "effect"
import * as Answers from "./internal/client/answer.js"
import type { Bitrix24Error, FatalError } from "./internal/client/errors.js"
import * as OAuth from "./internal/client/oauth.js"
import * as Portal from "./internal/client/portal.js"
import * as Retry from "./internal/client/retry.js"
import * as Transport from "./internal/client/transport.js"
import * as OperatingTime from "./OperatingTime.js"
import * as RateLimiter from "./RateLimiter.js"
import * as SharedRateLimiter from "./SharedRateLimiter.js"

// ---------------------------------------------------------------------------------------------
// Errors

export {
  type Bitrix24Error,
  classify,
  FatalError,
  LimitError,
  TransientError,
  ValidationError,
} from "./internal/client/errors.js"

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
  /** No retry starts once this long has passed since the first failure (default: no bound). */
  readonly within?: Duration.DurationInput | undefined
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
  /**
   * Rate buckets shared by every process on a PostgreSQL state store: given, the portal's request
   * rate is limited across processes (`SharedRateLimiter`), not only within this one.
   */
  readonly rateBuckets?: RateBuckets | undefined
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
  /**
   * This call's own retry policy instead of the client's: the pre-flight check gives up after
   * a few seconds rather than the minutes a write may wait for the portal.
   */
  readonly retry?: RetryOptions | undefined
  /** This call's own longest wait for an answer instead of the client's. */
  readonly timeout?: Duration.DurationInput | undefined
}

export interface Client {
  /** The portal for messages, with no secret: `https://acme.bitrix24.com/rest/1/…/` (code masked). */
  readonly portal: string
  /** The portal's origin, the key of its shared rate limiter. */
  readonly origin: string
  /** The portal and the webhook user or OAuth app calling it, with no secret (`bitrix24 https://acme.bitrix24.com (webhook user 1)`). */
  readonly identity: string
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

/** Opens a client. Fails with a `config` `FatalError` for a malformed or non-HTTPS URL. */
export const make = (options: Options): Effect.Effect<Client, FatalError, Scope.Scope> =>
  Effect.gen(function* () {
    const auth = options.auth
    const { origin, portal, endpoint, tokenUrl, identity } = yield* Portal.resolve(auth)
    const shared = yield* RateLimiter.acquire(
      origin,
      options.limits ?? RateLimiter.standard,
      options.operatingTime,
    )
    const limit =
      options.rateBuckets === undefined
        ? shared.limit
        : yield* SharedRateLimiter.make(options.rateBuckets, origin, shared.limits)
    const post = yield* Transport.make({ portal, timeout: options.timeout ?? "75 seconds", ca: options.ca })
    const tokens = yield* OAuth.make(auth, post, portal, tokenUrl)
    const retry = Retry.make(options.retry)
    const answers = { portal, oauth: auth._tag === "OAuth", shared: { ...shared, limit } }

    const call = (
      method: string,
      params: Record<string, unknown> = {},
      callOptions: CallOptions = {},
    ): Effect.Effect<Answer, Bitrix24Error> => {
      const budget = [method, ...(callOptions.budgetMethods ?? [])]
      const attempt = Effect.gen(function* () {
        yield* OperatingTime.awaitBudget(shared.operating, budget)
        const token = yield* tokens.current
        const body = auth._tag === "OAuth" ? { ...params, auth: Redacted.value(token.access) } : params
        const request = HttpClientRequest.post(endpoint(method)).pipe(
          HttpClientRequest.bodyUnsafeJson(body),
          HttpClientRequest.acceptJson,
        )
        const raw = yield* limit(post(method, request, callOptions.timeout))
        return yield* Answers.interpret(answers, method, raw, token.generation)
      })
      const policy = callOptions.retry === undefined ? retry : Retry.make(callOptions.retry)
      return tokens
        .authenticated(method, attempt)
        .pipe(policy(method, callOptions.idempotent ?? true), Effect.withSpan(`Bitrix24.${method}`))
    }

    return { portal, origin, identity, limits: shared.limits, operating: shared.operating, call }
  })

export const layer = (options: Options): Layer.Layer<Bitrix24Client, FatalError> =>
  Layer.scoped(Bitrix24Client, make(options))
