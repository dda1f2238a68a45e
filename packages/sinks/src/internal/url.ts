/** Portal URLs: parsing, the HTTPS rule, and their redacted forms for messages. */

import * as SecretUrl from "@b24etl/core/SecretUrl"

export interface Webhook {
  readonly origin: string
  readonly userId: string
  readonly code: string
  /** `${origin}/rest/${userId}/${code}/`: append the method. */
  readonly base: string
  /** The same with the code replaced by `***`. */
  readonly redacted: string
}

/** 127.0.0.0/8, ::1 and localhost: the only hosts that may be called over plain http. */
export const isLoopback = (hostname: string): boolean => {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase()
  if (h === "localhost" || h.endsWith(".localhost") || h === "::1" || h === "0:0:0:0:0:0:0:1") return true
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h)
  return m?.slice(1).every((p) => Number(p) <= 255) === true
}

/** Replaces the secret segment of webhook URLs (`/rest/{user}/{code}`) in any text. */
export const redact = (text: string): string => text.replace(/(\/rest\/\d+\/)[^/\s?#"']+/g, "$1***")

const parseUrl = (text: string): URL | undefined => {
  try {
    return new URL(text.trim())
  } catch {
    return undefined
  }
}

const checkProtocol = (url: URL, what: string, shown: string): string | undefined => {
  if (url.protocol === "https:") return undefined
  if (url.protocol === "http:") {
    return isLoopback(url.hostname)
      ? undefined
      : `${what} ${shown} must use https: Bitrix24 answers plain http with "Https required" (http is allowed only for loopback addresses)`
  }
  return `${what} ${shown} must be an https:// URL`
}

const webhookShape = "https://<portal>/rest/<user id>/<webhook code>/"

/**
 * Parses `https://portal/rest/{userId}/{code}/`; the error never contains the code. A URL of
 * another shape is shown by its origin only: where its code is cannot be told, so no part of
 * its path or query is printed.
 */
export const parseWebhook = (text: string): Webhook | { readonly error: string } => {
  const url = parseUrl(text)
  if (url === undefined)
    return {
      error: `the Bitrix24 webhook URL ${SecretUrl.show(text.trim())} must look like ${webhookShape}`,
    }
  const m = /^\/rest\/(\d+)\/([^/]+)\/?$/.exec(url.pathname)
  if (m === null) {
    return {
      error: `the Bitrix24 webhook URL${url.origin === "null" ? "" : ` on ${url.origin}`} must look like ${webhookShape} (the rest is not shown: it may hold the webhook code)`,
    }
  }
  const shown = `${url.origin}${redact(url.pathname)}`
  const bad = checkProtocol(url, "the Bitrix24 webhook URL", shown)
  if (bad !== undefined) return { error: bad }
  const userId = m[1]!
  const code = decodeURIComponent(m[2]!)
  return {
    origin: url.origin,
    userId,
    code,
    base: `${url.origin}/rest/${userId}/${encodeURIComponent(code)}/`,
    redacted: `${url.origin}/rest/${userId}/***/`,
  }
}

/** Parses a portal URL (`https://acme.bitrix24.com`) for OAuth calls. */
export const parsePortal = (text: string): { readonly origin: string } | { readonly error: string } => {
  const url = parseUrl(text)
  if (url === undefined) return { error: `the Bitrix24 portal URL "${text}" is not a valid URL` }
  const bad = checkProtocol(url, "the Bitrix24 portal URL", url.origin)
  return bad === undefined ? { origin: url.origin } : { error: bad }
}

/** Parses the OAuth token endpoint; same HTTPS rule. */
export const parseTokenUrl = (text: string): { readonly url: string } | { readonly error: string } => {
  const url = parseUrl(text)
  if (url === undefined) return { error: `the OAuth token URL "${text}" is not a valid URL` }
  const bad = checkProtocol(url, "the OAuth token URL", `${url.origin}${url.pathname}`)
  return bad === undefined ? { url: url.toString() } : { error: bad }
}
