/**
 * Reading the portal's answer to a call: a `result` (its `time` recorded against the method's
 * operating budget), or an error classified, with what it says about the portal's limits passed
 * on to the shared limiter. An expired OAuth token is reported as `Expired` for one refresh.
 */
import { Clock, Data, Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import type * as RateLimiter from "../../RateLimiter.js"
import * as Url from "../url.js"
import { type Bitrix24Error, classify, TransientError } from "./errors.js"
import type { Raw } from "./transport.js"

/** The access token expired (handled inside the client by one refresh). */
export class Expired extends Data.TaggedError("Expired")<{ readonly generation: number }> {}

export const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** The body as JSON, or `undefined` when it is not (a proxy's HTML page, a cut answer). */
export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * Reads the answer to `method`. `generation` is the OAuth token the call used, so that concurrent
 * calls refused as expired refresh it once; `oauth` is false for a webhook, which has no token.
 */
export const interpret = (
  context: { readonly portal: string; readonly oauth: boolean; readonly shared: RateLimiter.Shared },
  method: string,
  raw: Raw,
  generation: number,
): Effect.Effect<Bitrix24Client.Answer, Bitrix24Error | Expired> =>
  Effect.gen(function* () {
    const { portal, shared } = context
    const json = parseJson(raw.text)
    if (raw.status === 200 && isObject(json) && "result" in json) {
      const time = isObject(json.time) ? (json.time as Bitrix24Client.Answer["time"]) : undefined
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
    const description = typeof json.error_description === "string" ? Url.redact(json.error_description) : ""
    if (code.toLowerCase() === "expired_token" && context.oauth) return yield* new Expired({ generation })
    if (code.toUpperCase() === "OPERATION_TIME_LIMIT") {
      shared.operating.exceeded(method, yield* Clock.currentTimeMillis)
    }
    if (code.toUpperCase() === "QUERY_LIMIT_EXCEEDED") yield* shared.limit.full
    return yield* Effect.fail(classify(method, raw.status, code, description, portal))
  })
