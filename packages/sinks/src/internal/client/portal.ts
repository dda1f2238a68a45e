/**
 * Where a client's calls go, read from its authentication: the portal's origin (the key of its
 * shared rate limiter), the name shown in messages (a webhook's code masked), each method's
 * endpoint, and for OAuth the token endpoint.
 */
import { Effect, Redacted } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Url from "../url.js"
import { FatalError } from "./errors.js"

export interface Portal {
  readonly origin: string
  /** For messages, with no secret. */
  readonly portal: string
  readonly endpoint: (method: string) => string
  /** The OAuth token endpoint; empty for a webhook. */
  readonly tokenUrl: string
  /**
   * The portal and who writes to it, with no secret: `bitrix24 https://acme.bitrix24.com (webhook
   * user 1)` or `(OAuth app local.xyz)`. What a pipeline's state is bound to.
   */
  readonly identity: string
}

const invalidUrl = (message: string) =>
  new FatalError({ method: "connect", kind: "config", code: "INVALID_URL", message })

const defaultTokenUrl = (origin: string) =>
  Url.isLoopback(new URL(origin).hostname)
    ? `${origin}/oauth/token/`
    : "https://oauth.bitrix.info/oauth/token/"

/** Reads `auth`; fails with a `config` `FatalError` for a malformed or non-HTTPS URL. */
export const resolve = (auth: Bitrix24Client.Auth): Effect.Effect<Portal, FatalError> => {
  if (auth._tag === "Webhook") {
    const hook = Url.parseWebhook(Redacted.value(auth.url))
    if ("error" in hook) return Effect.fail(invalidUrl(hook.error))
    return Effect.succeed({
      origin: hook.origin,
      portal: hook.redacted,
      endpoint: (method) => `${hook.base}${encodeURIComponent(method)}`,
      tokenUrl: "",
      identity: `bitrix24 ${hook.origin} (webhook user ${hook.userId})`,
    })
  }
  const p = Url.parsePortal(auth.portalUrl)
  if ("error" in p) return Effect.fail(invalidUrl(p.error))
  const t = Url.parseTokenUrl(auth.tokenUrl ?? defaultTokenUrl(p.origin))
  if ("error" in t) return Effect.fail(invalidUrl(t.error))
  return Effect.succeed({
    origin: p.origin,
    portal: `${p.origin} (OAuth app)`,
    endpoint: (method) => `${p.origin}/rest/${encodeURIComponent(method)}`,
    tokenUrl: t.url,
    identity: `bitrix24 ${p.origin} (OAuth app ${auth.clientId})`,
  })
}
