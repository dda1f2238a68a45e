/**
 * A dead worker's run is taken over at once, even by a worker whose every slot is busy: a fleet
 * that loses a worker must not leave its runs queued until some other run ends (a migration can
 * take hours). The worker loop (`Worker.work`) on pg-boss in a real PostgreSQL, with the runs
 * given as effects: one holds the worker's only slot until released, the other is the dead
 * worker's, whose job is active with its lock held by a process of this host that is gone.
 */
import { spawnSync } from "node:child_process"
import { hostname } from "node:os"
import * as Queue from "@b24etl/cli/Queue"
import * as Worker from "@b24etl/cli/Worker"
import type { RunReport } from "@b24etl/core/Report"
import * as StateStoreSql from "@b24etl/core/StateStoreSql"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import * as StateDrivers from "../packages/core/test/fixtures/StateDrivers.js"
import { fleetPipeline } from "./fixtures/fleetPipeline.js"
import * as Legacy from "./support/legacy.js"
import { waitFor } from "./support/wait.js"

const report = (pipeline: string): RunReport => ({
  pipeline,
  runId: `run of ${pipeline}`,
  status: "succeeded",
  dryRun: false,
  entities: [],
  deadLetters: 0,
  durationMs: 0,
  stateLocation: "test",
})

/** A fresh state database with its store opened (which makes its tables) and the run queue on it. */
const queueState = (name: string) =>
  Effect.gen(function* () {
    const state = yield* Legacy.freshDatabase("postgres", name)
    const store = yield* Layer.build(StateStoreSql.layerFromUrl(state.url, StateDrivers.drivers))
    const boss = yield* Queue.open(state.url, { worker: false })
    return { state, store, boss }
  })

/** The worker's events as they come, and as text for a failed assertion. */
const recorder = () => {
  const events: Array<Worker.Event> = []
  return {
    events,
    onEvent: (e: Worker.Event) => Effect.sync(() => events.push(e)),
    shown: () => events.map((e) => JSON.stringify(e)).join("\n"),
  }
}

const until = (what: string, check: () => boolean, shown: () => string) => waitFor(what, check, shown, 30_000)

describe("pipeline worker: takeover", () => {
  it.live("a worker whose every slot is busy still takes over a dead worker's run, beyond its slots", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { state, store, boss } = yield* queueState("b24etl_e2e_worker_rescue")
        const busy = fleetPipeline({ name: "rescue-busy", portal: "A", companies: 1 })
        const orphan = fleetPipeline({ name: "rescue-orphan", portal: "A", companies: 1 })

        // The dead worker's job: active for a minute, its lock (lease not out) held by a process of
        // this host that has exited, as after a SIGKILL.
        const orphanJob = yield* Queue.enqueue(boss, orphan, {})
        yield* Effect.promise(() => boss.fetch(Queue.queueName(orphan.name), { batchSize: 1 }))
        yield* state.query(
          `update ${Queue.schema}.job set started_on = now() - interval '1 minute' where id = '${orphanJob}'`,
        )
        const gone = spawnSync(process.execPath, ["-e", ""]).pid
        yield* state.query(
          `insert into locks (name, owner, acquired_at, expires_at) values ('job:${orphanJob}', '${hostname()}:${gone}:dead', now() at time zone 'utc', now() at time zone 'utc' + interval '1 hour')`,
        )
        const busyJob = yield* Queue.enqueue(boss, busy, {})

        const { events, onEvent, shown } = recorder()
        const finished = (job: string) => events.some((e) => e._tag === "Finished" && e.job === job)
        const release = yield* Deferred.make<void>()
        const stop = yield* Deferred.make<void>()
        const worker = yield* Effect.forkScoped(
          Worker.work({
            boss,
            pipelines: [busy, orphan],
            concurrency: 1,
            run: (pipeline, options) =>
              pipeline.name === busy.name
                ? Effect.as(
                    Effect.race(Deferred.await(release), options.stop ?? Effect.never),
                    report(busy.name),
                  )
                : Effect.succeed(report(pipeline.name)),
            isLocked: () => false,
            onEvent,
            stop: Deferred.await(stop),
            pollMs: 100,
            watchEveryMs: 200,
          }).pipe(Effect.provide(store)),
        )

        yield* until(
          "the busy run to take the only slot",
          () => events.some((e) => e._tag === "Took" && e.job === busyJob),
          shown,
        )
        yield* until("the dead worker's run to be taken over and finish", () => finished(orphanJob), shown)
        // Taken back from the dead process, then run while the slot was still busy.
        assert.isTrue(
          events.some(
            (e) => e._tag === "Reclaimed" && e.job === orphanJob && e.holder.includes(`process ${gone}`),
          ),
          shown(),
        )
        assert.isFalse(finished(busyJob), shown())
        const took = events.find((e) => e._tag === "Took" && e.job === orphanJob)
        assert.strictEqual(took?._tag === "Took" ? took.retry : undefined, 1)

        yield* Deferred.succeed(release, undefined)
        yield* until("the busy run to finish", () => finished(busyJob), shown)
        yield* Deferred.succeed(stop, undefined)
        yield* Fiber.join(worker)
        const jobs = yield* state.query(
          `select id::text as id, state from ${Queue.schema}.job where id in ('${orphanJob}', '${busyJob}') order by id`,
        )
        assert.deepStrictEqual(
          jobs.map((j) => j.state),
          ["completed", "completed"],
        )
      }),
    ),
  )

  it.live("a stop while every slot is busy tells the runs to stop and hands their jobs back", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { state, store, boss } = yield* queueState("b24etl_e2e_worker_stop_busy")
        const busy = fleetPipeline({ name: "stop-busy", portal: "A", companies: 1 })
        const job = yield* Queue.enqueue(boss, busy, {})
        const { events, onEvent, shown } = recorder()
        const stop = yield* Deferred.make<void>()
        const worker = yield* Effect.forkScoped(
          Worker.work({
            boss,
            pipelines: [busy],
            concurrency: 1,
            // A long run: it ends only when told to stop, as the runner does.
            run: (pipeline, options) =>
              Effect.as(options.stop ?? Effect.never, {
                ...report(pipeline.name),
                status: "interrupted" as const,
              }),
            isLocked: () => false,
            onEvent,
            stop: Deferred.await(stop),
            pollMs: 100,
            watchEveryMs: 200,
          }).pipe(Effect.provide(store)),
        )
        yield* until("the run to take the only slot", () => events.some((e) => e._tag === "Took"), shown)
        yield* Deferred.succeed(stop, undefined)
        // The worker ends at once (it used to wait, unstoppable, for a slot to free).
        const ended = yield* Fiber.join(worker).pipe(Effect.timeout("10 seconds"), Effect.either)
        assert.isTrue(ended._tag === "Right", shown())
        assert.isTrue(
          events.some((e) => e._tag === "Released" && e.job === job),
          shown(),
        )
        const [row] = yield* state.query(`select state from ${Queue.schema}.job where id = '${job}'`)
        assert.strictEqual(row?.state, "retry")
      }),
    ),
  )
})
