/**
 * The client's errors, typed by what the caller can do about them, and the classification of a
 * portal's error answer into them. None carries a secret.
 */
import { Data } from "effect"

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

/** What to check, per kind of fatal error, for messages. */
export const hints: Readonly<Record<FatalError["kind"], string>> = {
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
