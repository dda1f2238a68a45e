/**
 * The rate limit and operating-time accounting, over HTTP, on Effect's TestClock: no real sleeps.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as Emulator from "../src/Emulator.js"
import * as OperatingTime from "../src/OperatingTime.js"
import * as RateLimit from "../src/RateLimit.js"
import { assertError, post } from "./support.js"

describe("LeakyBucket", () => {
  it("admits a burst, refuses past it, and drains at the rate", () => {
    const bucket = new RateLimit.LeakyBucket({ rate: 2, burst: 50 })
    for (let i = 0; i < 50; i++) assert.isTrue(bucket.take(0))
    assert.isFalse(bucket.take(0))
    assert.isFalse(bucket.take(499))
    assert.isTrue(bucket.take(500))
    assert.isFalse(bucket.take(500))
    assert.isTrue(bucket.take(25_500))
    assert.closeTo(bucket.level(25_500), 1, 1e-9)
  })

  it("is off with burst 0", () => {
    const bucket = new RateLimit.LeakyBucket({ rate: 2, burst: 0 })
    for (let i = 0; i < 1000; i++) assert.isTrue(bucket.take(0))
  })
})

describe("Ledger", () => {
  it("counts calls over 0.1 s in one-minute buckets over ten minutes", () => {
    const ledger = new OperatingTime.Ledger({ ...OperatingTime.defaults, budgetSeconds: 1 })
    ledger.record("k", 0, 0.05)
    assert.strictEqual(ledger.usage("k", 0).operating, 0)
    ledger.record("k", 1_000, 0.6)
    ledger.record("k", 61_000, 0.6)
    assert.closeTo(ledger.usage("k", 61_000).operating, 1.2, 1e-9)
    assert.strictEqual(ledger.usage("k", 61_000).resetAt, 600)
    assert.isTrue(ledger.isBlocked("k", 61_000))
    assert.closeTo(ledger.usage("k", 600_000).operating, 0.6, 1e-9)
    assert.isFalse(ledger.isBlocked("k", 600_000))
    assert.strictEqual(ledger.usage("k", 660_000).operating, 0)
  })
})

describe("rate limit over HTTP", () => {
  it.scoped("503 QUERY_LIMIT_EXCEEDED past the burst; the bucket drains with the clock", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.make({ rateLimit: { rate: 2, burst: 5 } })
      for (let i = 0; i < 5; i++) {
        assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 200)
      }
      const refused = yield* post(`${emulator.webhookUrl}profile`)
      assertError(refused, 503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
      // A batch is one request, whatever it holds.
      const batch = yield* post(`${emulator.webhookUrl}batch`, { cmd: { a: "profile", b: "profile" } })
      assertError(batch, 503, "QUERY_LIMIT_EXCEEDED")
      yield* TestClock.adjust("500 millis")
      assert.strictEqual((yield* post(`${emulator.webhookUrl}batch`, { cmd: { a: "profile" } })).status, 200)
      assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 503)
      yield* TestClock.adjust("3 seconds")
      for (let i = 0; i < 5; i++) {
        assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 200)
      }
      const counters = yield* emulator.counters
      assert.strictEqual(counters.rateLimited, 3)
      assert.strictEqual(counters.status503, 3)
    }),
  )

  it.scoped("the limit can be changed at runtime", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.make({ rateLimit: { burst: 0 } })
      for (let i = 0; i < 60; i++)
        assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 200)
      yield* emulator.setRateLimit({ rate: 1, burst: 2 })
      assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 200)
      assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 200)
      assertError(yield* post(`${emulator.webhookUrl}profile`), 503, "QUERY_LIMIT_EXCEEDED")
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 200)
    }),
  )

  it.scoped("burst 0 turns the limit off", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.make({ rateLimit: { burst: 0 } })
      for (let i = 0; i < 80; i++) {
        assert.strictEqual((yield* post(`${emulator.webhookUrl}profile`)).status, 200)
      }
    }),
  )
})

describe("operating time over HTTP", () => {
  it.scoped(
    "time.operating grows per method; past the budget 429 OPERATION_TIME_LIMIT until the window moves",
    () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.make({
          rateLimit: { burst: 0 },
          operatingTime: { budgetSeconds: 1, costPerItemSeconds: 0.1, costPerCallSeconds: 0.005 },
        })
        const data = Array.from({ length: 5 }, (_, i) => ({ title: `c${i}` }))
        const importCompanies = post(`${emulator.webhookUrl}crm.item.batchImport`, { entityTypeId: 4, data })
        const first = yield* importCompanies
        assert.closeTo(first.body.time.processing, 0.505, 1e-9)
        assert.closeTo(first.body.time.operating, 0.505, 1e-9)
        assert.strictEqual(first.body.time.operating_reset_at, 600)
        yield* TestClock.adjust("2 minutes")
        const second = yield* importCompanies
        assert.closeTo(second.body.time.operating, 1.01, 1e-9)
        assert.strictEqual(second.body.time.operating_reset_at, 600)
        const blocked = yield* importCompanies
        assertError(blocked, 429, "OPERATION_TIME_LIMIT")
        // Other methods keep their own budget, and cheap calls (0.1 s or less) are not counted.
        const list = yield* post(`${emulator.webhookUrl}crm.item.list`, { entityTypeId: 4 })
        assert.strictEqual(list.status, 200)
        assert.strictEqual(list.body.time.operating, 0)
        // Inside a batch, the blocked method fails its command only.
        const batch = yield* post(`${emulator.webhookUrl}batch`, {
          halt: 0,
          cmd: { imp: "crm.item.batchImport?entityTypeId=4&data[0][title]=x", me: "profile" },
        })
        assert.strictEqual(batch.status, 200)
        assert.strictEqual(batch.body.result.result_error.imp.error, "OPERATION_TIME_LIMIT")
        assert.strictEqual(batch.body.result.result.me.ID, "1")
        // The first call's bucket leaves the window at 600 s; the second's (at 120 s) at 720 s.
        yield* TestClock.adjust("8 minutes")
        const afterFirst = yield* importCompanies
        assert.strictEqual(afterFirst.status, 200)
        assert.closeTo(afterFirst.body.time.operating, 1.01, 1e-9)
        assert.strictEqual(afterFirst.body.time.operating_reset_at, 720)
        assertError(yield* importCompanies, 429, "OPERATION_TIME_LIMIT")
        yield* TestClock.adjust("10 minutes")
        assert.strictEqual((yield* importCompanies).status, 200)
        const counters = yield* emulator.counters
        assert.strictEqual(counters.status429, 3)
      }),
  )

  // API-NOTES "Limits": "the vendor page says each nested call is charged to its own method"
  // (apidocs.bitrix24.com/limits.html); a batch counts as one request.
  it.scoped("a batch's commands are charged to their own methods; the batch only its own overhead", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.make({
        rateLimit: { burst: 0 },
        operatingTime: { costPerItemSeconds: 0.1, costPerCallSeconds: 0.005 },
      })
      const five = Array.from({ length: 5 }, (_, i) => `data[${i}][title]=c${i}`).join("&")
      const answer = yield* post(`${emulator.webhookUrl}batch`, {
        halt: 0,
        cmd: {
          a: `crm.item.batchImport?entityTypeId=4&${five}`,
          b: `crm.item.batchImport?entityTypeId=4&${five}`,
        },
      })
      assert.strictEqual(answer.status, 200)
      assert.closeTo(answer.body.result.result_time.a.operating, 0.505, 1e-9)
      assert.closeTo(answer.body.result.result_time.b.operating, 1.01, 1e-9)
      assert.closeTo(answer.body.result.result_time.b.processing, 0.505, 1e-9)
      // The batch reports the whole request's processing but is charged only its own 0.005 s (not counted).
      assert.closeTo(answer.body.time.processing, 1.015, 1e-9)
      assert.strictEqual(answer.body.time.operating, 0)
      const single = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, {
        entityTypeId: 4,
        data: [{ title: "d" }, { title: "e" }],
      })
      assert.closeTo(single.body.time.operating, 1.01 + 0.205, 1e-9)
    }),
  )

  // API-NOTES "Limits": "a 2026 measurement on a self-hosted portal (b24jssdk PR #539) found it
  // charged to batch"; behind `batchCharge: "batch"`.
  it.scoped('batchCharge: "batch" charges the commands to batch, and blocks the batch past the budget', () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.make({
        rateLimit: { burst: 0 },
        operatingTime: {
          costPerItemSeconds: 0.1,
          costPerCallSeconds: 0.005,
          batchCharge: "batch",
          budgetSeconds: 1,
        },
      })
      const five = Array.from({ length: 5 }, (_, i) => `data[${i}][title]=c${i}`).join("&")
      const cmd = {
        a: `crm.item.batchImport?entityTypeId=4&${five}`,
        b: `crm.item.batchImport?entityTypeId=4&${five}`,
      }
      const answer = yield* post(`${emulator.webhookUrl}batch`, { halt: 0, cmd })
      assert.strictEqual(answer.status, 200)
      assert.closeTo(answer.body.time.operating, 1.015, 1e-9)
      const single = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, {
        entityTypeId: 4,
        data: [{ title: "d" }, { title: "e" }],
      })
      assert.closeTo(single.body.time.operating, 0.205, 1e-9)
      assertError(yield* post(`${emulator.webhookUrl}batch`, { halt: 0, cmd }), 429, "OPERATION_TIME_LIMIT")
    }),
  )

  // API-NOTES "Limits": "One request may run at most 60 s, a batch with all its commands included."
  // The vendor does not document the answer: the emulator stops the request there with a 504.
  it.scoped(
    "a request past 60 s of portal time is stopped: 504 REQUEST_TIME_LIMIT, earlier commands kept",
    () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.make({
          rateLimit: { burst: 0 },
          operatingTime: { costPerItemSeconds: 1, costPerCallSeconds: 0.005, budgetSeconds: 0 },
        })
        const twenty = (from: number) =>
          Array.from({ length: 20 }, (_, i) => `data[${i}][title]=c${from + i}`).join("&")
        const cmd = Object.fromEntries(
          [0, 1, 2, 3].map((k) => [`c${k}`, `crm.item.batchImport?entityTypeId=4&${twenty(k * 20)}`]),
        )
        // 20.005 s per command: the third would end past 60 s.
        const cut = yield* post(`${emulator.webhookUrl}batch`, { halt: 0, cmd })
        assertError(cut, 504, "REQUEST_TIME_LIMIT")
        assert.strictEqual((yield* emulator.items(4)).length, 40)
        // A single request that would run past 60 s is refused before it starts.
        const slow = yield* Emulator.make({
          rateLimit: { burst: 0 },
          operatingTime: { costPerItemSeconds: 3.5, budgetSeconds: 0 },
        })
        const data = Array.from({ length: 20 }, (_, i) => ({ title: `s${i}` }))
        assertError(
          yield* post(`${slow.webhookUrl}crm.item.batchImport`, { entityTypeId: 4, data }),
          504,
          "REQUEST_TIME_LIMIT",
        )
        assert.strictEqual((yield* slow.items(4)).length, 0)
      }),
  )

  it.scoped(
    "a nested batchImport without data is run and refused for the missing parameter, creating nothing",
    () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.make({ rateLimit: { burst: 0 } })
        const answer = yield* post(`${emulator.webhookUrl}batch`, {
          halt: 0,
          cmd: { probe: "crm.item.batchImport?entityTypeId=4" },
        })
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(answer.body.result.result_error.probe.error, "100")
        assert.strictEqual((yield* emulator.items(4)).length, 0)
        const refusing = yield* Emulator.make({ rateLimit: { burst: 0 }, batchImportInBatch: false })
        const refused = yield* post(`${refusing.webhookUrl}batch`, {
          halt: 0,
          cmd: { probe: "crm.item.batchImport?entityTypeId=4" },
        })
        assert.strictEqual(refused.body.result.result_error.probe.error, "ERROR_BATCH_METHOD_NOT_ALLOWED")
      }),
  )

  it.scoped("the default cost keeps 2 batchImports of 20 per second under the budget", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.make({})
      const data = Array.from({ length: 20 }, (_, i) => ({ title: `c${i}` }))
      let last = 0
      for (let i = 0; i < 40; i++) {
        const answer = yield* post(`${emulator.webhookUrl}crm.item.batchImport`, { entityTypeId: 4, data })
        assert.strictEqual(answer.status, 200)
        last = answer.body.time.operating
        yield* TestClock.adjust("500 millis")
      }
      assert.closeTo(last, 40 * 0.205, 1e-9)
    }),
  )
})

describe("latency", () => {
  it.scopedLive("delays each REST answer and shows in time.duration", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.make({ latencyMs: 40 })
      const started = Date.now()
      const answer = yield* post(`${emulator.webhookUrl}profile`)
      assert.isAtLeast(Date.now() - started, 40)
      assert.isAtLeast(answer.body.time.duration, 0.04)
      yield* emulator.setLatency(0)
      const fast = yield* post(`${emulator.webhookUrl}profile`)
      assert.isBelow(fast.body.time.duration, 0.04)
    }),
  )
})
