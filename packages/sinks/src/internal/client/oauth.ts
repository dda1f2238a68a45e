/**
 * An OAuth client's tokens: the current access token, and one refresh on `expired_token` merged
 * across the calls that ran into it. Refresh tokens rotate, so the new pair goes to `onRefresh`.
 * A webhook client has no token: its calls go out as they are.
 */
import { HttpClientRequest } from "@effect/platform"
import { Effect, Redacted, Ref } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import { type Expired, isObject, parseJson } from "./answer.js"
import { type Bitrix24Error, FatalError, hints, TransientError } from "./errors.js"
import type { Post } from "./transport.js"

/** The access token a call goes out with; `generation` counts the refreshes before it. */
export interface Token {
  readonly access: Redacted.Redacted<string>
  readonly generation: number
}

export interface Tokens {
  readonly current: Effect.Effect<Token>
  /**
   * Runs `attempt` with the current token; when the portal says it expired, refreshes once and
   * runs it again. Expired again right after a refresh is an `auth` `FatalError`.
   */
  readonly authenticated: <A>(
    method: string,
    attempt: Effect.Effect<A, Bitrix24Error | Expired>,
  ) => Effect.Effect<A, Bitrix24Error>
}

/** The token endpoint's answer as the new pair, or why the refresh failed. */
const readRefresh = (
  raw: { readonly status: number; readonly text: string },
  current: Redacted.Redacted<string>,
): Effect.Effect<
  { readonly access: Redacted.Redacted<string>; readonly refresh: Redacted.Redacted<string> },
  FatalError
> => {
  const json = parseJson(raw.text)
  if (raw.status !== 200 || !isObject(json) || typeof json.access_token !== "string") {
    const code = isObject(json) && typeof json.error === "string" ? json.error : `HTTP_${raw.status}`
    const description =
      isObject(json) && typeof json.error_description === "string" ? json.error_description : ""
    return Effect.fail(
      new FatalError({
        method: "oauth.token",
        kind: "auth",
        status: raw.status,
        code,
        message: `refreshing the OAuth access token failed: ${code}${description ? ` (${description})` : ""}; check the client id, secret and refresh token`,
      }),
    )
  }
  return Effect.succeed({
    access: Redacted.make(json.access_token),
    refresh: typeof json.refresh_token === "string" ? Redacted.make(json.refresh_token) : current,
  })
}

/** The tokens of a client (`portal`: its name in messages; `tokenUrl`: empty for a webhook). */
export const make = (
  auth: Bitrix24Client.Auth,
  post: Post,
  portal: string,
  tokenUrl: string,
): Effect.Effect<Tokens> =>
  Effect.gen(function* () {
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
          const pair = yield* readRefresh(raw, current.refresh)
          const next = { ...pair, generation: generation + 1 }
          yield* Ref.set(tokens, next)
          yield* Effect.logInfo(`Bitrix24: refreshed the OAuth access token for ${portal}`)
          if (auth.onRefresh !== undefined) {
            yield* auth.onRefresh({ accessToken: next.access, refreshToken: next.refresh })
          }
        }),
      )
    return {
      current: Ref.get(tokens),
      authenticated: (method, attempt) =>
        attempt.pipe(
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
        ),
    }
  })
