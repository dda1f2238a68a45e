/**
 * An error answer of the REST API: an HTTP status and `{ "error": code, "error_description": text }`.
 */
import { Data } from "effect"

export class RestError extends Data.TaggedError("RestError")<{
  readonly status: number
  readonly code: string
  readonly description: string
}> {
  /** The JSON body the portal sends. */
  get body(): { readonly error: string; readonly error_description: string } {
    return { error: this.code, error_description: this.description }
  }
}

const make = (status: number, code: string, description: string) =>
  new RestError({ status, code, description })

export const invalidCredentials = () => make(401, "INVALID_CREDENTIALS", "Invalid request credentials")
export const noAuthFound = () => make(401, "NO_AUTH_FOUND", "Wrong authorization data")
export const expiredToken = () => make(401, "expired_token", "The access token provided has expired.")
export const queryLimitExceeded = () => make(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
export const operationTimeLimit = () =>
  make(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
/**
 * A request that ran past the portal's 60 s. The vendor documents the cap (API-NOTES "Limits") but
 * not its answer; the emulator's choice is a 5xx (the work done before the cut stays, as when a
 * server stops a script), so a client must treat it as ambiguous.
 */
export const requestTimeLimit = (seconds: number) =>
  make(
    504,
    "REQUEST_TIME_LIMIT",
    `The request was stopped after ${seconds} s of execution; commands run before that were applied`,
  )
export const internalServerError = () => make(500, "INTERNAL_SERVER_ERROR", "Internal server error")
export const methodNotFound = () => make(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
export const batchLengthExceeded = () => make(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
export const batchMethodNotAllowed = () =>
  make(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
export const maxImportBatchSizeExceeded = () =>
  make(400, "MAX_IMPORT_BATCH_SIZE_EXCEEDED", "You cannot import more than 20 items")
export const typeNotFound = () => make(400, "NOT_FOUND", "Smart process not found")
export const itemNotFound = () => make(400, "NOT_FOUND", "Element not found")
export const missingParameter = (name: string) =>
  make(400, "100", `Could not find value for parameter {${name}}`)
export const invalidRequest = (description: string) => make(400, "100", description)
export const notIterable = (type: string) =>
  make(400, "100", `Expected iterable value for multiple field, but got ${type} instead`)
export const valueNotValid = (field: string) =>
  make(400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", `Invalid value for field "${field}"`)
export const required = (title: string) =>
  make(400, "CRM_FIELD_ERROR_REQUIRED", `The field "${title}" is required`)
