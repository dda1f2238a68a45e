import type { SecretInput } from "./internal/secret.js"

/**
 * How a REST source proves who it is. Secrets may be plain strings, `Redacted`, or `Config`
 * read when the source connects (`Config.redacted("CRM_TOKEN")`); they never appear in messages.
 */
export type Auth = Bearer | Basic | ApiKey | OAuth2ClientCredentials

export type { SecretInput }

/** `Authorization: Bearer <token>`. */
export interface Bearer {
  readonly _tag: "Bearer"
  readonly token: SecretInput
}

/** `Authorization: Basic base64(username:password)`. */
export interface Basic {
  readonly _tag: "Basic"
  readonly username: string
  readonly password: SecretInput
}

/** An API key in a header (`X-Api-Key: ...`) or a query parameter (`?api_key=...`). */
export interface ApiKey {
  readonly _tag: "ApiKey"
  readonly in: "header" | "query"
  readonly name: string
  readonly value: SecretInput
}

/**
 * OAuth2 client credentials: a token from `tokenUrl` (client id and secret sent with HTTP Basic
 * auth), reused until shortly before it expires, fetched again once when the API answers 401.
 */
export interface OAuth2ClientCredentials {
  readonly _tag: "OAuth2ClientCredentials"
  readonly tokenUrl: string
  readonly clientId: string
  readonly clientSecret: SecretInput
  readonly scope?: string | undefined
}

export const bearer = (token: SecretInput): Bearer => ({ _tag: "Bearer", token })

export const basic = (username: string, password: SecretInput): Basic => ({
  _tag: "Basic",
  username,
  password,
})

/** `apiKey({ header: "X-Api-Key" }, key)` or `apiKey({ query: "api_key" }, key)`. */
export const apiKey = (
  where: { readonly header: string } | { readonly query: string },
  value: SecretInput,
): ApiKey =>
  "header" in where
    ? { _tag: "ApiKey", in: "header", name: where.header, value }
    : { _tag: "ApiKey", in: "query", name: where.query, value }

export const oauth2ClientCredentials = (
  options: Omit<OAuth2ClientCredentials, "_tag">,
): OAuth2ClientCredentials => ({
  _tag: "OAuth2ClientCredentials",
  ...options,
})
