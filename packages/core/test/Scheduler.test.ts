import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, TestClock } from "effect"
import * as Pipeline from "../src/Pipeline.js"
import type { RunReport } from "../src/Report.js"
import * as Scheduler from "../src/Scheduler.js"
import * as MemorySink from "./fixtures/MemorySink.js"
import * as MemorySource from "./fixtures/MemorySource.js"

const target = MemorySink.make()
const source = MemorySource.make("legacy", {})
const scheduled = (name: string, schedule: Pipeline.Definition["schedule"]) =>
  Pipeline.make({
    name,
    sink: target.sink,
    schedule,
    entities: {
      company: { from: source.table("t", { key: "id" }), to: target.target("company"), map: () => ({}) },
    },
  })

const report = (pipeline: string, status: RunReport["status"] = "succeeded"): RunReport => ({
  pipeline,
  runId: "r",
  status,
  dryRun: false,
  entities: [],
  deadLetters: 0,
  durationMs: 0,
  stateLocation: "memory",
})

const minute = 60_000
const at = (event: Scheduler.Event) =>
  event._tag === "Finished"
    ? ""
    : event._tag === "Scheduled"
      ? event.next.toISOString()
      : event.at.toISOString()

describe("Scheduler", () => {
  it.effect("runs a pipeline at its cron times", () =>
    Effect.gen(function* () {
      const events: Array<Scheduler.Event> = []
      const fiber = yield* Effect.fork(
        Scheduler.serve({
          pipelines: [scheduled("sync", "*/15 * * * *")],
          run: (p) => Effect.succeed(report(p.name)),
          onEvent: (e) => Effect.sync(() => events.push(e)),
        }),
      )
      yield* TestClock.adjust("61 minutes")
      yield* Fiber.interrupt(fiber)
      const started = events.filter((e) => e._tag === "Started").map(at)
      assert.deepStrictEqual(started, [
        "1970-01-01T00:15:00.000Z",
        "1970-01-01T00:30:00.000Z",
        "1970-01-01T00:45:00.000Z",
        "1970-01-01T01:00:00.000Z",
      ])
      assert.strictEqual(events.filter((e) => e._tag === "Finished").length, 4)
    }),
  )

  it.effect("honours the schedule's time zone", () =>
    Effect.gen(function* () {
      const events: Array<Scheduler.Event> = []
      const fiber = yield* Effect.fork(
        Scheduler.serve({
          pipelines: [scheduled("nightly", { cron: "0 2 * * *", timeZone: "Europe/Berlin" })],
          run: (p) => Effect.succeed(report(p.name)),
          onEvent: (e) => Effect.sync(() => events.push(e)),
        }),
      )
      yield* TestClock.adjust("24 hours")
      yield* Fiber.interrupt(fiber)
      // 02:00 in Berlin in January (UTC+1) is 01:00 UTC.
      assert.deepStrictEqual(events.filter((e) => e._tag === "Started").map(at), ["1970-01-01T01:00:00.000Z"])
    }),
  )

  it.effect("an overlong run makes the next tick skip, not pile up", () =>
    Effect.gen(function* () {
      const events: Array<Scheduler.Event> = []
      let concurrent = 0
      let maxConcurrent = 0
      const fiber = yield* Effect.fork(
        Scheduler.serve({
          pipelines: [scheduled("slow", "*/15 * * * *")],
          run: (p) =>
            Effect.gen(function* () {
              concurrent++
              maxConcurrent = Math.max(maxConcurrent, concurrent)
              yield* Effect.sleep(`${20} minutes`)
              concurrent--
              return report(p.name)
            }),
          onEvent: (e) => Effect.sync(() => events.push(e)),
        }),
      )
      yield* TestClock.adjust(61 * minute)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(maxConcurrent, 1)
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "Started" || e._tag === "Skipped").map((e) => `${e._tag} ${at(e)}`),
        [
          "Started 1970-01-01T00:15:00.000Z",
          "Skipped 1970-01-01T00:30:00.000Z",
          "Started 1970-01-01T00:45:00.000Z",
          "Skipped 1970-01-01T01:00:00.000Z",
        ],
      )
      const skipped = events.find((e) => e._tag === "Skipped")
      assert.strictEqual(skipped?._tag === "Skipped" && skipped.reason, "the previous run is still going")
    }),
  )

  it.effect("a run another process holds is reported as skipped", () =>
    Effect.gen(function* () {
      const events: Array<Scheduler.Event> = []
      const fiber = yield* Effect.fork(
        Scheduler.serve({
          pipelines: [scheduled("busy", "*/15 * * * *")],
          run: () => Effect.fail("locked" as const),
          isSkip: (e) => (e === "locked" ? "another process is running it" : undefined),
          onEvent: (e) => Effect.sync(() => events.push(e)),
        }),
      )
      yield* TestClock.adjust(16 * minute)
      yield* Fiber.interrupt(fiber)
      const skipped = events.find((e) => e._tag === "Skipped")
      assert.strictEqual(skipped?._tag === "Skipped" && skipped.reason, "another process is running it")
    }),
  )

  it.effect("stop ends serving after the current run stops gracefully", () =>
    Effect.gen(function* () {
      const stop = yield* Deferred.make<void>()
      const events: Array<Scheduler.Event> = []
      let stoppedGracefully = false
      const fiber = yield* Effect.fork(
        Scheduler.serve({
          pipelines: [scheduled("sync", "*/15 * * * *")],
          run: (p, stopRun) =>
            Effect.raceFirst(
              Effect.sleep("1 hour").pipe(Effect.as(report(p.name))),
              stopRun.pipe(
                Effect.tap(() => (stoppedGracefully = true)),
                Effect.as(report(p.name, "interrupted")),
              ),
            ),
          onEvent: (e) => Effect.sync(() => events.push(e)),
          stop: Deferred.await(stop),
        }),
      )
      yield* TestClock.adjust(20 * minute)
      yield* Deferred.succeed(stop, undefined)
      yield* Fiber.join(fiber)
      assert.isTrue(stoppedGracefully)
      const finished = events.find((e) => e._tag === "Finished")
      assert.strictEqual(finished?._tag === "Finished" && finished.report.status, "interrupted")
      assert.strictEqual(events.filter((e) => e._tag === "Started").length, 1)
    }),
  )

  it.effect("a tick missed while the process was down runs once on start when catchUp is set", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(10 * 60 * minute)
      const events: Array<Scheduler.Event> = []
      const fiber = yield* Effect.fork(
        Scheduler.serve({
          pipelines: [
            scheduled("hourly", { cron: "0 * * * *", catchUp: true }),
            scheduled("plain", "0 * * * *"),
          ],
          run: (p) => Effect.succeed(report(p.name)),
          lastRunAt: () => Effect.succeed(new Date(7 * 60 * minute)),
          onEvent: (e) => Effect.sync(() => events.push(e)),
        }),
      )
      yield* TestClock.adjust(1)
      yield* Fiber.interrupt(fiber)
      const started = events.filter((e) => e._tag === "Started")
      assert.deepStrictEqual(
        started.map((e) => `${e.pipeline} ${e._tag === "Started" && e.catchUp}`),
        ["hourly true"],
      )
    }),
  )

  it("refuses an invalid cron expression naming the pipeline", () => {
    const result = Pipeline.cron(scheduled("broken", "*/99 * * *"))
    assert.isTrue(result._tag === "Left" && result.left.message.includes('schedule "*/99 * * *"'))
  })
})
