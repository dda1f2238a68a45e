/**
 * What every request of the connection shares: the check that a target is a Bitrix24 one, the
 * mapping of a client error to what the runner should do, and the halving of a request the
 * portal refuses as a whole.
 */
import * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Target from "../../Target.js"

/** The sink's name in a `SinkError`. */
export const sinkName = "bitrix24"

export const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** The field a portal message names (`... field "createdTime" ...`), if any. */
export const fieldOf = (message: string): string | undefined => /field "([^"]+)"/i.exec(message)?.[1]

/** `items` in runs of at most `size`, in order. */
export const chunks = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** The runner hands over its own `Sink.Target`; only a Bitrix24 target can be written here. */
export const asTarget = (target: Sink.Target): Effect.Effect<Target.Target, Sink.SinkError> =>
  Target.isTarget(target)
    ? Effect.succeed(target)
    : Effect.fail(
        new Sink.SinkError({
          sink: sinkName,
          reason: "fatal",
          code: "UNKNOWN_TARGET",
          message: `target "${target.name}" of sink "${target.sink}" is not a Bitrix24 target`,
        }),
      )

/**
 * Maps a client error to what the runner should do (`idempotent`: whether the request may simply
 * be sent again, which decides if a failure after sending is `ambiguous`).
 */
export const toSinkError = (e: Bitrix24Client.Bitrix24Error, idempotent: boolean): Sink.SinkError => {
  switch (e._tag) {
    case "Bitrix24FatalError":
    case "Bitrix24ValidationError":
      return new Sink.SinkError({
        sink: sinkName,
        reason: "fatal",
        code: e.code,
        message: e.message,
        cause: e,
      })
    case "Bitrix24LimitError":
      return new Sink.SinkError({
        sink: sinkName,
        reason: "unavailable",
        code: e.code,
        message: `${e.message}; still refused after retries`,
        cause: e,
      })
    case "Bitrix24TransientError":
      return new Sink.SinkError({
        sink: sinkName,
        reason: e.sent && !idempotent ? "ambiguous" : "unavailable",
        code: e.code,
        message:
          e.sent && !idempotent
            ? `${e.message}; the portal may have applied the call: look the items up before sending them again`
            : `${e.message}; still failing after retries`,
        cause: e,
      })
  }
}

/**
 * A request the portal refuses as a whole (one bad item fails it all) is halved, and halved
 * again, until the item at fault is alone and rejected; the others are sent and written. Other
 * failures become a `SinkError` (`idempotent`: whether the request may simply be sent again).
 */
export const splitOnRefusal =
  <A>(
    items: ReadonlyArray<A>,
    send: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError>,
    idempotent: boolean,
  ) =>
  (
    self: Effect.Effect<ReadonlyArray<Sink.ItemResult>, Bitrix24Client.Bitrix24Error | Sink.SinkError>,
  ): Effect.Effect<ReadonlyArray<Sink.ItemResult>, Sink.SinkError> =>
    self.pipe(
      Effect.catchIf(
        (e): e is Bitrix24Client.ValidationError => e._tag === "Bitrix24ValidationError",
        (e) => {
          if (items.length === 1)
            return Effect.succeed([Sink.rejected(e.code, e.message, fieldOf(e.message))])
          const half = Math.ceil(items.length / 2)
          return Effect.map(Effect.all([send(items.slice(0, half)), send(items.slice(half))]), ([a, b]) => [
            ...a,
            ...b,
          ])
        },
      ),
      Effect.catchIf(
        (e): e is Exclude<Bitrix24Client.Bitrix24Error, Bitrix24Client.ValidationError> =>
          e._tag !== "SinkError",
        (e) => Effect.fail(toSinkError(e, idempotent)),
      ),
    )
