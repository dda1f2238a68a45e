/**
 * The client's retry policy: bounded, jittered exponential backoff (8 retries, 0.5 s doubling,
 * 30 s cap by default) of what is safe to send again. Limit errors always are; a network failure
 * or 5xx only when the request was not sent, the call is idempotent, or the caller allows 5xx
 * retries of writes.
 */
import { Duration, Effect, Schedule } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import type { Bitrix24Error } from "./errors.js"

/** Retries a call by the policy in `options`; `idempotent`: whether it may be applied twice. */
export type Retry = (
  method: string,
  idempotent: boolean,
) => <A>(self: Effect.Effect<A, Bitrix24Error>) => Effect.Effect<A, Bitrix24Error>

export const make = (options: Bitrix24Client.RetryOptions = {}): Retry => {
  const cap = Duration.decode(options.cap ?? "30 seconds")
  const schedule = Schedule.exponential(options.base ?? "500 millis", 2).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((_, d) => Duration.min(d, cap)),
    Schedule.intersect(Schedule.recurs(options.times ?? 8)),
  )
  return (method, idempotent) => {
    const retryable = (e: Bitrix24Error): boolean =>
      e._tag === "Bitrix24LimitError" ||
      (e._tag === "Bitrix24TransientError" &&
        (!e.sent || idempotent || (options.serverErrorsOnWrites === true && e.status !== undefined)))
    return (self) =>
      self.pipe(
        Effect.tapError((e) =>
          retryable(e)
            ? Effect.logDebug(`Bitrix24: ${method} failed (${e.code}), retrying with backoff`)
            : Effect.void,
        ),
        Effect.retry({ schedule, while: retryable }),
      )
  }
}
