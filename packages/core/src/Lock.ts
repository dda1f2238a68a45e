import { hostname } from "node:os"
import { Clock, Data, Deferred, Duration, Effect, Either, Option, Schedule, type Scope } from "effect"
import type { LockHolder } from "./internal/state/locks.js"
import type { SqlStateStore } from "./internal/state/store.js"
import { StateStore, type StateStoreError } from "./StateStore.js"

/**
 * A named lock with a lease, kept in the state store's `locks` table, so that two processes never
 * run the same pipeline at once. The holder renews the lease in the background every third of it;
 * a holder that dies stops renewing, and the lock is free for anyone once the lease has run out,
 * or at once when the holder was a process of this host that no longer exists.
 *
 * Time: the lease is measured with Effect's `Clock` of the process taking the lock (the store
 * stores `now + leaseMs` computed from it), not with the database's clock, so a `TestClock` drives
 * it in tests. Processes sharing a lock across machines must have clocks in step to well within
 * the lease.
 */

export type { LockHolder }

/** The lock is held by someone else. */
export class LockError extends Data.TaggedError("LockError")<{
  readonly name: string
  /** Who holds it, when the store can tell. */
  readonly holder: string | undefined
  readonly expiresAt: Date | undefined
  readonly message: string
}> {}

/** A holder found its lock gone: taken over after its lease ran out, or not renewable in time. */
export class LockLost extends Data.TaggedError("LockLost")<{
  readonly name: string
  readonly owner: string
  readonly message: string
}> {}

export interface Options {
  /** Who takes the lock; defaults to `host:pid:random`, unique per call. */
  readonly owner?: string | undefined
  /** How long the lock stays taken without a renewal. */
  readonly leaseMs: number
  /**
   * How often the holder renews it (default and at most: a third of the lease). Oftener makes the
   * last renewal a closer heartbeat: when a dead holder was last alive.
   */
  readonly renewEveryMs?: number | undefined
}

export interface Lock {
  readonly name: string
  readonly owner: string
  readonly leaseMs: number
  /** Fails with `LockLost` when the lock is lost; never succeeds. Race work against it (see `withLock`). */
  readonly lost: Effect.Effect<never, LockLost>
}

/** A default owner: the host and process, plus a random part so two calls in one process differ. */
export const defaultOwner = (): string =>
  `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`.slice(-255)

const holderOf = (store: StateStore, name: string): Effect.Effect<Option.Option<LockHolder>> =>
  "lockHolder" in store && typeof store.lockHolder === "function"
    ? (store as SqlStateStore).lockHolder(name).pipe(Effect.orElseSucceed(() => Option.none()))
    : Effect.succeed(Option.none())

/** The host and process of an owner made by `defaultOwner` (`host:pid:random`); others tell nothing. */
export const ownerProcess = (owner: string): { readonly host: string; readonly pid: number } | undefined => {
  const match = /^(.+):(\d+):[a-z0-9]+$/.exec(owner)
  return match === null ? undefined : { host: match[1]!, pid: Number(match[2]) }
}

/** Whether the process `pid` of this host exists (EPERM: it does, but belongs to another user). */
const processExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as { code?: unknown }).code === "EPERM"
  }
}

/**
 * Whether the lock's owner is known to be dead: a process of this host that no longer exists.
 * Such a holder renews nothing, so its lock is free at once instead of when its lease runs out.
 */
export const holderIsDead = (owner: string): boolean => {
  const where = ownerProcess(owner)
  return (
    where !== undefined && where.host === hostname() && where.pid !== process.pid && !processExists(where.pid)
  )
}

/** The holder in the user's words: "process 123 on host vm" when the owner says so, else the owner. */
export const describeHolder = (owner: string): string => {
  const where = ownerProcess(owner)
  return where === undefined ? owner : `process ${where.pid} on host ${where.host}`
}

const refused = (store: StateStore, name: string) =>
  Effect.flatMap(holderOf(store, name), (holder) =>
    Effect.fail(
      Option.match(holder, {
        onNone: () =>
          new LockError({
            name,
            holder: undefined,
            expiresAt: undefined,
            message: `lock "${name}" is held by another process`,
          }),
        // Only the facts: the caller says once what to do about them.
        onSome: (h) =>
          new LockError({
            name,
            holder: h.owner,
            expiresAt: h.expiresAt,
            message: `lock "${name}" is held by ${describeHolder(h.owner)} until ${h.expiresAt.toISOString()} unless it renews it`,
          }),
      }),
    ),
  )

/**
 * Takes the lock, or takes it over from a holder of this host whose process is gone (killed,
 * crashed): the release names that owner, so a live holder that renewed in between keeps it.
 */
const take = (store: StateStore, name: string, owner: string, leaseMs: number) =>
  Effect.flatMap(store.acquireLock(name, owner, leaseMs), (got) =>
    got
      ? Effect.succeed(true)
      : Effect.flatMap(holderOf(store, name), (holder) =>
          Option.isSome(holder) && holderIsDead(holder.value.owner)
            ? store
                .releaseLock(name, holder.value.owner)
                .pipe(Effect.zipRight(store.acquireLock(name, owner, leaseMs)))
            : Effect.succeed(false),
        ),
  )

/**
 * Frees the lock `name` whoever holds it, for a user who knows its holder is dead (`pipeline
 * unlock`). Answers the holder it freed, if any. Only the SQL store can tell who holds a lock.
 */
export const forceRelease = (
  name: string,
): Effect.Effect<Option.Option<LockHolder>, StateStoreError, StateStore> =>
  Effect.gen(function* () {
    const store = yield* StateStore
    const holder = yield* holderOf(store, name)
    if (Option.isSome(holder)) yield* store.releaseLock(name, holder.value.owner)
    return holder
  })

/** Who holds the lock `name` now, if anyone (and the store can tell). */
export const holder = (name: string): Effect.Effect<Option.Option<LockHolder>, never, StateStore> =>
  Effect.flatMap(StateStore, (store) => holderOf(store, name))

/**
 * Takes the lock `name` for the rest of the scope, or fails with `LockError` naming the holder.
 * While held, a background fiber renews the lease every `leaseMs / 3` (or `renewEveryMs`); the lock is released when
 * the scope closes, also on interruption. When a renewal finds the lock taken by someone else, or
 * no renewal succeeds for a whole lease, `lock.lost` fails with `LockLost` and renewing stops.
 */
export const acquire = (
  name: string,
  options: Options,
): Effect.Effect<Lock, LockError | StateStoreError, StateStore | Scope.Scope> =>
  Effect.gen(function* () {
    const store = yield* StateStore
    const owner = options.owner ?? defaultOwner()
    const leaseMs = options.leaseMs
    // Taking the lock and registering its release happen without an interruption in between.
    yield* Effect.acquireRelease(
      Effect.flatMap(take(store, name, owner, leaseMs), (got) => (got ? Effect.void : refused(store, name))),
      () => store.releaseLock(name, owner).pipe(Effect.ignore),
    )
    const lost = yield* Deferred.make<never, LockLost>()
    let renewedAt = yield* Clock.currentTimeMillis
    const loseWith = (message: string) =>
      Deferred.fail(lost, new LockLost({ name, owner, message })).pipe(Effect.zipRight(Effect.interrupt))
    const renew = Effect.gen(function* () {
      // Uninterruptible: a renewal still in flight when the scope closes must land before the
      // release, or it would take the lock again after it was released.
      const result = yield* Effect.either(Effect.uninterruptible(store.acquireLock(name, owner, leaseMs)))
      const now = yield* Clock.currentTimeMillis
      if (Either.isRight(result)) {
        if (result.right) {
          renewedAt = now
          return
        }
        return yield* loseWith(`lock "${name}" was taken over by another process after its lease ran out`)
      }
      if (now - renewedAt >= leaseMs) {
        return yield* loseWith(
          `lock "${name}" could not be renewed within its lease (${leaseMs} ms): ${result.left.message}`,
        )
      }
      yield* Effect.logWarning(`renewing lock "${name}" failed, retrying: ${result.left.message}`)
    })
    yield* renew.pipe(
      Effect.delay(
        Duration.millis(Math.max(1, Math.floor(Math.min(leaseMs / 3, options.renewEveryMs ?? leaseMs)))),
      ),
      Effect.forever,
      Effect.forkScoped,
    )
    return { name, owner, leaseMs, lost: Deferred.await(lost) }
  })

/**
 * Like `acquire`, but waits while someone else holds the lock, trying again every `retryEvery`
 * (default: a third of the lease). Gives up with `LockError` only when `timeout` is given and
 * passes.
 */
export const acquireWait = (
  name: string,
  options: Options & {
    readonly retryEvery?: Duration.DurationInput | undefined
    readonly timeout?: Duration.DurationInput | undefined
  },
): Effect.Effect<Lock, LockError | StateStoreError, StateStore | Scope.Scope> => {
  const every = options.retryEvery ?? Duration.millis(Math.max(1, Math.floor(options.leaseMs / 3)))
  const owner = options.owner ?? defaultOwner()
  const waiting = Schedule.spaced(every)
  return acquire(name, { ...options, owner }).pipe(
    Effect.retry({
      schedule: options.timeout === undefined ? waiting : Schedule.upTo(waiting, options.timeout),
      while: (e) => e._tag === "LockError",
    }),
  )
}

/**
 * Runs `self` while holding the lock `name`: fails with `LockError` when someone else holds it,
 * and interrupts `self` and fails with `LockLost` if the lock is lost on the way.
 */
export const withLock =
  (name: string, options: Options) =>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
  ): Effect.Effect<A, E | LockError | LockLost | StateStoreError, Exclude<R, Scope.Scope> | StateStore> =>
    Effect.scoped(Effect.flatMap(acquire(name, options), (lock) => Effect.raceFirst(self, lock.lost)))
