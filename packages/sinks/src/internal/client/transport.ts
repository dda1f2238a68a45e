/**
 * The HTTP side of a client: one keep-alive agent (trusting an extra CA if given), a timeout per
 * answer, and network failures told apart by whether the request may have reached the portal.
 * Request spans are off: a webhook URL holds its secret.
 */
import { HttpClient, type HttpClientError, type HttpClientRequest } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Duration, Effect, type Scope } from "effect"
import * as Url from "../url.js"
import { type Bitrix24Error, FatalError, TransientError } from "./errors.js"

/** An answer as it came: its status and body text. */
export interface Raw {
  readonly status: number
  readonly text: string
}

/** Sends one request; `method` names it in errors; `timeout` overrides the client's for this one. */
export type Post = (
  method: string,
  request: HttpClientRequest.HttpClientRequest,
  timeout?: Duration.DurationInput | undefined,
) => Effect.Effect<Raw, Bitrix24Error>

/** Failures that happen before a request leaves: the portal cannot have applied it. */
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

/** Opens the HTTP client of one portal (`portal`: its name in messages). */
export const make = (options: {
  readonly portal: string
  readonly timeout: Duration.DurationInput
  readonly ca?: string | undefined
}): Effect.Effect<Post, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { portal } = options
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
    const clientTimeout = Duration.decode(options.timeout)
    return (method, request, ownTimeout) => {
      const timeout = ownTimeout === undefined ? clientTimeout : Duration.decode(ownTimeout)
      return http.execute(request).pipe(
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
    }
  })
