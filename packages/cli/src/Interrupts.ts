/**
 * Ctrl-C as the user pressed it, not as the process received it. One press stops a command
 * gracefully; a second press quits at once. A terminal sends SIGINT to every process of the
 * foreground group, and `pnpm`, `npm run` and `tsx` forward the one they get to their child as
 * well, so one press often arrives two or three times within a few milliseconds: a signal within
 * `sameWithinMs` of the first signal of a press is that press again.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"

/** What a signal means: the first press (stop gracefully), the same press again, or a second press. */
export type Press = "stop" | "same" | "quit"

/** How long after a press's first signal a signal still counts as that press. */
export const defaultSameWithinMs = 1_000

/** Classifies the signals a process receives into presses. */
export interface Interrupts {
  /** Call on every SIGINT/SIGTERM. */
  readonly signal: Effect.Effect<Press>
}

/** A classifier that has seen no signal yet. */
export const make = (sameWithinMs: number = defaultSameWithinMs): Effect.Effect<Interrupts> =>
  Effect.map(Ref.make<number | undefined>(undefined), (firstAt) => ({
    signal: Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.modify(firstAt, (first): [Press, number | undefined] =>
        first === undefined ? ["stop", now] : now - first <= sameWithinMs ? ["same", first] : ["quit", first],
      ),
    ),
  }))
