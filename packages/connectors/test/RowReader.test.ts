import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Queue } from "effect"
import * as RowReader from "../src/internal/rowReader.js"

/**
 * The flow control under the SQL page readers, driven by a scripted query (the real drivers'
 * sockets are exercised by the Postgres and MySQL suites): when the socket is paused and resumed.
 */
const scripted = () => {
  const log: Array<string> = []
  let handlers: RowReader.Handlers | undefined
  const start = (h: RowReader.Handlers) =>
    Effect.sync(() => {
      handlers = h
      return { pause: () => log.push("pause"), resume: () => log.push("resume") }
    })
  const rows = (from: number, count: number) => {
    for (let i = from; i < from + count; i++) handlers!.row({ id: i })
  }
  return {
    log,
    start,
    rows,
    started: () => handlers !== undefined,
    end: () => handlers!.end(),
    fail: (e: unknown) => handlers!.error(e),
  }
}

/** Waits (real time) until `condition` holds: the consumer runs on its own fiber. */
const until = (condition: () => boolean, what: string) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10))
  }).pipe(Effect.tap(() => assert.isTrue(condition(), `waited for ${what}`)))

/** Takes the rows one chunk per permit, so the test decides when downstream is busy. */
const consume = (take: RowReader.Take) =>
  Effect.gen(function* () {
    const permits = yield* Queue.unbounded<void>()
    const got: Array<number> = []
    const fiber = yield* Effect.gen(function* () {
      for (let rows = yield* take; rows !== undefined; rows = yield* take) {
        got.push(...rows.map((r) => r.id as number))
        yield* Queue.take(permits)
      }
    }).pipe(Effect.fork)
    return {
      got,
      fiber,
      permit: (n = 1) =>
        Queue.offerAll(
          permits,
          Array.from({ length: n }, () => undefined),
        ),
    }
  })

describe("page reader flow control", () => {
  it.scopedLive(
    "pauses the socket while two chunks wait, resumes once they are taken, keeps every row in order",
    () =>
      Effect.gen(function* () {
        const q = scripted()
        const c = yield* consume(yield* RowReader.open(q.start, 3, { highWater: 2, drainAfter: 60_000 }))
        yield* until(q.started, "the query to start")
        q.rows(0, 7)
        assert.deepStrictEqual(q.log, ["pause"], "two chunks wait")
        yield* until(() => c.got.length === 3, "the first chunk")
        assert.deepStrictEqual(c.got, [0, 1, 2])
        assert.deepStrictEqual(q.log, ["pause"], "one chunk still waits")
        yield* c.permit()
        yield* until(() => c.got.length === 6, "the second chunk")
        assert.deepStrictEqual(c.got, [0, 1, 2, 3, 4, 5])
        assert.deepStrictEqual(q.log, ["pause", "resume"], "resumed once nothing waits")
        q.rows(7, 3)
        q.end()
        yield* c.permit(10)
        yield* Fiber.join(c.fiber)
        assert.deepStrictEqual(c.got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      }),
  )

  it.scopedLive(
    "a consumer that stalls gets the rest of the page buffered, so the server is not left blocked",
    () =>
      Effect.gen(function* () {
        const q = scripted()
        const c = yield* consume(yield* RowReader.open(q.start, 2, { highWater: 2, drainAfter: 40 }))
        yield* until(q.started, "the query to start")
        q.rows(0, 4)
        assert.deepStrictEqual(q.log, ["pause"])
        yield* until(() => q.log.length === 2, "drainAfter to pass")
        assert.deepStrictEqual(q.log, ["pause", "resume"], "resumed after drainAfter")
        q.rows(4, 10)
        q.end()
        assert.deepStrictEqual(q.log, ["pause", "resume"], "never paused again on this page")
        yield* c.permit(20)
        yield* Fiber.join(c.fiber)
        assert.strictEqual(c.got.length, 14)
      }),
  )

  it.scopedLive("a driver error fails the take", () =>
    Effect.gen(function* () {
      const q = scripted()
      const take = yield* RowReader.open(q.start, 2)
      const fiber = yield* Effect.fork(take)
      yield* until(q.started, "the query to start")
      q.rows(0, 1)
      q.fail(new Error("connection reset"))
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual((error as Error).message, "connection reset")
    }),
  )
})
