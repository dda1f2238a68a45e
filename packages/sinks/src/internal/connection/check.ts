/**
 * `check`: the pre-flight call before a run reads anything. `profile` answers any webhook or
 * OAuth app whatever its scope and reads no CRM data, so it shows the portal is up and takes the
 * credentials, for one request. Its budget is short, unlike a write's: two tries of at most
 * 4 seconds each, so an unreachable portal (a closed port, a host that never answers) stops the
 * run within about 10 seconds instead of the minutes of backoff a write allows. A refused
 * credential (401 `INVALID_CREDENTIALS` / `NO_AUTH_FOUND`, 403) is final: the client never
 * retries it (`internal/client/errors.ts`).
 */
import type * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import { toSinkError } from "./requests.js"

/** Retries after the first try of the pre-flight call. */
export const retry: Bitrix24Client.RetryOptions = { times: 1, base: "500 millis", cap: "1 second" }
/** The longest wait for one answer to the pre-flight call. */
export const timeout = "4 seconds"

/** The connection's `check`. */
export const make = (client: Bitrix24Client.Client): Sink.Connection["check"] =>
  client.call("profile", {}, { retry, timeout }).pipe(
    Effect.mapError((e) => toSinkError(e, true)),
    Effect.asVoid,
  )
