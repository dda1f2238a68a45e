/**
 * The client's retry policy: bounded, jittered exponential backoff (8 retries, 0.5 s doubling,
 * 30 s cap by default) of what is safe to send again. Limit errors always are; a network failure
 * or 5xx only when the request was not sent, the call is idempotent, or the caller allows 5xx
 * retries of writes.
 */
import * as Progress from "@b24etl/core/Progress"
import { Clock, Duration, Effect, Schedule } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import type { Bitrix24Error } from "./errors.js"

/** Back-offs shorter than this pass unnoticed; longer ones are shown on the run's progress. */
const shownBackOffMs = 1_000

/** Shows a back-off after a limit answer (429/503) as the run's waiting state. */
const announce = (method: string, error: Bitrix24Error, delay: Duration.Duration): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Progress.waiting({
      what: `a retry of ${method} (the portal answered ${error.status === undefined ? "" : `${error.status} `}${error.code})`,
      untilMs: now + Duration.toMillis(delay),
    }),
  )

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
    (s) => (options.within === undefined ? s : Schedule.upTo(s, options.within)),
  )
  return (method, idempotent) => {
    const retryable = (e: Bitrix24Error): boolean =>
      e._tag === "Bitrix24LimitError" ||
      (e._tag === "Bitrix24TransientError" &&
        (!e.sent || idempotent || (options.serverErrorsOnWrites === true && e.status !== undefined)))
    return (self) =>
      Effect.suspend(() => {
        // The error the next delay follows, to tell the run's progress what it waits for.
        let last: Bitrix24Error | undefined
        return self.pipe(
          Effect.tapError((e) => {
            last = e
            return retryable(e)
              ? Effect.logDebug(`Bitrix24: ${method} failed (${e.code}), retrying with backoff`)
              : Effect.void
          }),
          Effect.retry({
            schedule: schedule.pipe(
              Schedule.modifyDelayEffect((_, delay) =>
                last?._tag === "Bitrix24LimitError" && Duration.toMillis(delay) >= shownBackOffMs
                  ? Effect.as(announce(method, last, delay), delay)
                  : Effect.succeed(delay),
              ),
            ),
            while: retryable,
          }),
        )
      })
  }
}
