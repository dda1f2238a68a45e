/**
 * `check`: the pre-flight call before a run reads anything. `profile` answers any webhook or
 * OAuth app whatever its scope and reads no CRM data, so it shows the portal is up and takes the
 * credentials, for one request. Its budget is short, unlike a write's: tries of at most 3 seconds
 * each, retried with short back-offs for 8 seconds, so an unreachable portal (a closed port, a host
 * that never answers) stops the run within about 12 seconds instead of the minutes of backoff a
 * write allows, while a portal that is up but answers a busy 503 or a dropped connection now and
 * then (which a single retry would not ride out) still passes. A refused
 * credential (401 `INVALID_CREDENTIALS` / `NO_AUTH_FOUND`, 403) is final: the client never
 * retries it (`internal/client/errors.ts`).
 */
import type * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import { toSinkError } from "./requests.js"

/** Retries after the first try of the pre-flight call. */
export const retry: Bitrix24Client.RetryOptions = {
  times: 20,
  base: "250 millis",
  cap: "1 second",
  within: "8 seconds",
}
/** The longest wait for one answer to the pre-flight call. */
export const timeout = "3 seconds"

/** The connection's `check`. */
export const make = (client: Bitrix24Client.Client): Sink.Connection["check"] =>
  client.call("profile", {}, { retry, timeout }).pipe(
    Effect.mapError((e) => toSinkError(e, true)),
    Effect.asVoid,
  )
