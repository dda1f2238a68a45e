/**
 * Limits and faults over HTTP: the shared limiter keeps a healthy run free of 503s, operating time
 * pauses a method before 429, and 503/5xx/resets are retried where that is safe.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Either } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import { connect, items, methodCount, portal, webhookSink } from "./support.js"

describe("rate limit", () => {
  it.scopedLive(
    "70 imports at concurrency 4 on a 2/s, burst 50 portal: no 503, at the portal's pace",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal()
        const conn = yield* connect(webhookSink(emulator, { rate: "standard" }))
        const batches = Array.from({ length: 70 }, (_, b) =>
          items("company", 20, (i) => ({ title: `Company ${i}` }), b * 20),
        )
        const start = yield* Clock.currentTimeMillis
        const results = yield* Effect.forEach(batches, (batch) => conn.create(Bitrix24.company, batch), {
          concurrency: conn.concurrency,
        })
        const seconds = ((yield* Clock.currentTimeMillis) - start) / 1000
        const counters = yield* emulator.counters
        assert.strictEqual(counters.status503, 0)
        assert.strictEqual(counters.rateLimited, 0)
        assert.strictEqual(counters.byMethod["crm.item.batchImport"], 70)
        assert.isTrue(results.flat().every((r) => r._tag === "Written"))
        assert.strictEqual((yield* emulator.items(4)).length, 1400)
        // 48 at once, then 22 more at 2/s: about 11 s; not throttled harder than the portal needs.
        assert.isAtLeast(seconds, 10)
        assert.isAtMost(seconds, 16)
      }),
    60_000,
  )

  it.scopedLive(
    "when another client has filled the portal's bucket, a 503 slows the sink to the drain rate",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal()
        // Someone else's requests fill the bucket.
        yield* Effect.forEach(
          Array.from({ length: 50 }, (_, i) => i),
          () =>
            Effect.promise(() =>
              fetch(`${emulator.webhookUrl}profile`, { method: "POST" }).then((r) => r.text()),
            ),
          { concurrency: 10 },
        )
        const before = (yield* emulator.counters).status503
        const conn = yield* connect(
          webhookSink(emulator, { retry: { base: "200 millis", cap: "2 seconds", times: 10 } }),
        )
        const results = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, b) => items("company", 20, () => ({ title: "t" }), b * 20)),
          (batch) => conn.create(Bitrix24.company, batch),
          { concurrency: conn.concurrency },
        )
        assert.isTrue(results.flat().every((r) => r._tag === "Written"))
        const refused = (yield* emulator.counters).status503 - before
        assert.isAtLeast(refused, 1)
        // Only the requests already in flight when the first 503 came back were refused.
        assert.isAtMost(refused, conn.concurrency)
      }),
  )

  it.scopedLive("two sinks on one portal share its limiter", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ rateLimit: { rate: 4, burst: 10 } })
      const a = yield* connect(webhookSink(emulator, { rate: { rate: 4, burst: 10 } }))
      const b = yield* connect(webhookSink(emulator, { rate: { rate: 4, burst: 10 } }), {
        originator: "other",
      })
      const work = (conn: typeof a, from: number) =>
        Effect.forEach(
          Array.from({ length: 10 }, (_, k) => items("contact", 1, () => ({ name: "x" }), from + k)),
          (batch) => conn.create(Bitrix24.contact, batch),
          { concurrency: 4 },
        )
      yield* Effect.all([work(a, 0), work(b, 100)], { concurrency: 2 })
      const counters = yield* emulator.counters
      assert.strictEqual(counters.byMethod["crm.item.batchImport"], 20)
      assert.strictEqual(counters.status503, 0)
    }),
  )
})

describe("operating time", () => {
  it.scopedLive("pauses a method near its budget until the window moves, without a 429", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({
        operatingTime: { budgetSeconds: 2.5, windowSeconds: 3, bucketSeconds: 1, costPerItemSeconds: 0.05 },
      })
      const conn = yield* connect(
        webhookSink(emulator, { operatingTime: { budgetSeconds: 2.5, marginSeconds: 1.1 } }),
      )
      const start = yield* Clock.currentTimeMillis
      for (let b = 0; b < 4; b++) {
        const results = yield* conn.create(
          Bitrix24.company,
          items("company", 20, () => ({ title: "t" }), b * 20),
        )
        assert.isTrue(results.every((r) => r._tag === "Written"))
      }
      const seconds = ((yield* Clock.currentTimeMillis) - start) / 1000
      const counters = yield* emulator.counters
      assert.strictEqual(counters.status429, 0)
      assert.strictEqual(counters.byMethod["crm.item.batchImport"], 4)
      // Each call costs 1.005 s of a 2.5 s budget: the sink waited for the window at least once.
      assert.isAtLeast(seconds, 1)
    }),
  )

  it.scopedLive("a 429 OPERATION_TIME_LIMIT pauses until operating_reset_at and the call then succeeds", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({
        operatingTime: { budgetSeconds: 2, windowSeconds: 3, bucketSeconds: 1, costPerItemSeconds: 0.05 },
      })
      // The sink believes in the cloud's 480 s budget, so only the portal's 429 can stop it.
      const conn = yield* connect(webhookSink(emulator))
      for (let b = 0; b < 4; b++) {
        const results = yield* conn.create(
          Bitrix24.company,
          items("company", 20, () => ({ title: "t" }), b * 20),
        )
        assert.isTrue(results.every((r) => r._tag === "Written"))
      }
      const counters = yield* emulator.counters
      assert.isAtLeast(counters.status429, 1)
      assert.strictEqual((yield* emulator.items(4)).length, 80)
    }),
  )
})

describe("retries", () => {
  it.scopedLive("503 answers are retried with backoff until the import succeeds, without duplicates", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ faults: { error503: 0.4 }, seed: 7 })
      const conn = yield* connect(webhookSink(emulator))
      const results = yield* Effect.forEach(
        Array.from({ length: 6 }, (_, b) => items("company", 20, (i) => ({ title: `C${i}` }), b * 20)),
        (batch) => conn.create(Bitrix24.company, batch),
        { concurrency: 4 },
      )
      const counters = yield* emulator.counters
      assert.isAtLeast(counters.faults.error503, 1)
      assert.isTrue(results.flat().every((r) => r._tag === "Written"))
      assert.strictEqual((yield* emulator.items(4)).length, 120)
    }),
  )

  it.scopedLive("500 answers to reads and updates are retried until they succeed", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ seed: 3 })
      const conn = yield* connect(webhookSink(emulator))
      const batch = items("company", 20, (i) => ({ title: `C${i}` }))
      const created = yield* conn.create(Bitrix24.company, batch)
      yield* emulator.setFaults({ error500: 0.5 })
      const found = yield* conn.find(Bitrix24.company, batch)
      const plan = yield* conn.plan([{ entity: "company", target: Bitrix24.company, fields: ["title"] }])
      const updated = yield* conn.update(
        Bitrix24.company,
        created.map((r, i) => ({
          sourceKey: String(i),
          targetId: r._tag === "Written" ? r.targetId : "",
          fields: { title: `New ${i}` },
        })),
      )
      const counters = yield* emulator.counters
      assert.isAtLeast(counters.faults.error500, 1)
      assert.strictEqual(found.size, 20)
      assert.deepStrictEqual(plan.problems, [])
      assert.isTrue(updated.every((r) => r._tag === "Written"))
    }),
  )

  it.scopedLive("a 500 to an import is ambiguous (not retried blindly) unless serverErrorsOnWrites", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(webhookSink(emulator))
      // The connection reads the type's fields (crm.item.fields, retried as a read) before the
      // import: learnt here, before every answer is a 500.
      yield* conn.plan([{ entity: "company", target: Bitrix24.company, fields: ["title"] }])
      yield* emulator.setFaults({ error500: 1 })
      const failed = yield* Effect.either(
        conn.create(
          Bitrix24.company,
          items("company", 5, () => ({ title: "t" })),
        ),
      )
      assert.isTrue(Either.isLeft(failed) && failed.left.reason === "ambiguous")
      assert.strictEqual(yield* methodCount(emulator, "crm.item.batchImport"), 1)

      yield* emulator.setFaults({ error500: 0.5 })
      const retrying = yield* connect(
        webhookSink(emulator, {
          retry: { base: "5 millis", cap: "20 millis", times: 12, serverErrorsOnWrites: true },
        }),
      )
      const results = yield* retrying.create(
        Bitrix24.company,
        items("company", 5, () => ({ title: "t" })),
      )
      assert.isTrue(results.every((r) => r._tag === "Written"))
    }),
  )

  it.scopedLive(
    "a reset before the portal answers an update is retried; an import is reported ambiguous",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal({ seed: 12 })
        const conn = yield* connect(webhookSink(emulator))
        const created = yield* conn.create(
          Bitrix24.company,
          items("company", 10, () => ({ title: "t" })),
        )
        yield* emulator.setFaults({ resetBeforeCommit: 0.5 })
        const updated = yield* conn.update(
          Bitrix24.company,
          created.map((r, i) => ({
            sourceKey: String(i),
            targetId: r._tag === "Written" ? r.targetId : "",
            fields: { title: "u" },
          })),
        )
        assert.isTrue(updated.every((r) => r._tag === "Written"))
        assert.isAtLeast((yield* emulator.counters).faults.resetBeforeCommit, 1)
        yield* emulator.setFaults({ resetBeforeCommit: 1 })
        const failed = yield* Effect.either(
          conn.create(
            Bitrix24.company,
            items("company", 2, () => ({ title: "t" }), 50),
          ),
        )
        assert.isTrue(Either.isLeft(failed) && failed.left.reason === "ambiguous")
      }),
  )

  it.scopedLive("retries are bounded: a portal that keeps refusing is `unavailable`", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ faults: { error503: 1 } })
      const conn = yield* connect(
        webhookSink(emulator, { retry: { base: "1 millis", cap: "5 millis", times: 3 } }),
      )
      const failed = yield* Effect.either(
        conn.create(
          Bitrix24.company,
          items("company", 2, () => ({ title: "t" })),
        ),
      )
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left.reason, "unavailable")
        assert.strictEqual(failed.left.code, "QUERY_LIMIT_EXCEEDED")
      }
      assert.strictEqual((yield* emulator.counters).status503, 4)
    }),
  )
})
