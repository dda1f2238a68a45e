/**
 * The run queue's own promise, on pg-boss in a real PostgreSQL: one active run per pipeline. Every
 * worker prepares each queue when it starts and every `run --queue` does again, so the policy must
 * survive being prepared many times (pg-boss 10's `updateQueue` resets it to `standard` when not
 * given one, which let the workers of the fleet bench take several jobs of one pipeline at once).
 */
import * as Queue from "@b24etl/cli/Queue"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { fleetPipeline } from "./fixtures/fleetPipeline.js"
import * as Legacy from "./support/legacy.js"

const pipeline = fleetPipeline({ name: "queue-once", portal: "A", companies: 1, schedule: "* * * * *" })

describe("run queue (pg-boss)", () => {
  it.live(
    "a pipeline's queue stays singleton however often it is prepared: a second job waits while one is active",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_queue_singleton")
          const boss = yield* Queue.open(state.url, { worker: false })
          const name = Queue.queueName(pipeline.name)
          // A worker's start (with its schedule), then two `run --queue`: three prepares.
          yield* Queue.prepare(boss, pipeline, { schedule: true })
          const first = yield* Queue.enqueue(boss, pipeline, {})
          const second = yield* Queue.enqueue(boss, pipeline, {})
          const queue = yield* Effect.promise(() => boss.getQueue(name))
          assert.strictEqual(queue?.policy, "singleton")

          const fetch = Effect.promise(() => boss.fetch<Queue.JobData>(name, { batchSize: 1 }))
          const [taken] = yield* fetch
          assert.strictEqual(taken?.id, first)
          // While the first is active, no worker gets the second.
          assert.deepStrictEqual(yield* fetch, [])
          yield* Effect.promise(() => boss.complete(name, first))
          const [next] = yield* fetch
          assert.strictEqual(next?.id, second)
        }),
      ),
  )

  it.live("the queues with a run to take, in one statement: waiting and none active", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const state = yield* Legacy.freshDatabase("postgres", "b24etl_e2e_queue_ready")
        const boss = yield* Queue.open(state.url, { worker: false })
        const make = (name: string) => fleetPipeline({ name, portal: "A", companies: 1 })
        const [idle, waiting, busy] = [make("queue-idle"), make("queue-waiting"), make("queue-busy")]
        yield* Queue.prepare(boss, idle, { schedule: false })
        yield* Queue.enqueue(boss, waiting, {})
        // Busy: two runs queued; once one is taken the other waits behind it (singleton).
        yield* Queue.enqueue(boss, busy, {})
        yield* Queue.enqueue(boss, busy, {})
        const names = [idle, waiting, busy].map((p) => Queue.queueName(p.name))
        const ready = Effect.map(Queue.ready(boss, names), (set) => [...set].sort())
        assert.deepStrictEqual(yield* ready, ["pipeline.queue-busy", "pipeline.queue-waiting"])
        // Once busy has a run active, its second waits: only waiting has one to take.
        yield* Effect.promise(() => boss.fetch(Queue.queueName("queue-busy"), { batchSize: 1 }))
        assert.deepStrictEqual(yield* ready, ["pipeline.queue-waiting"])
      }),
    ),
  )
})
