import { spawnSync } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { assert, layer, type Vitest } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Clock,
  Context,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Redacted,
  type Scope,
  TestClock,
} from "effect"
import * as Lock from "../src/Lock.js"
import { StateStore, type StateStoreError } from "../src/StateStore.js"
import * as StateStoreSql from "../src/StateStoreSql.js"
import * as StateDrivers from "./fixtures/StateDrivers.js"

/**
 * One contract suite, run against PostgreSQL, MariaDB, SQLite and PGlite. Each dialect gets its own
 * database (`b24etl_state_test`, or a temporary directory), created and dropped by the suite.
 */

class Harness extends Context.Tag("test/StateStore/Harness")<
  Harness,
  {
    readonly store: StateStoreSql.SqlStateStore
    /** Every query the store ran, for counting. */
    readonly queries: Array<string>
    /** The URL (or directory) the store was opened from. */
    readonly url: string
    /** Another store on the same database, as a second process would open it (server databases). */
    readonly another: Option.Option<Effect.Effect<StateStoreSql.SqlStateStore, StateStoreError, Scope.Scope>>
    /**
     * Migrates an empty database and starts again. Server databases get a second fresh database
     * that two stores open at once; an embedded directory belongs to one process, so it is opened,
     * closed and reopened.
     */
    readonly migrations: Effect.Effect<void, StateStoreError, Scope.Scope>
  }
>() {}

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "b24etl-state-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true })),
)

const tableNames = [
  "bindings",
  "checkpoints",
  "credentials",
  "dead_letters",
  "id_map",
  "locks",
  "runs",
  "schema_migrations",
]

const versions = (store: StateStoreSql.SqlStateStore) =>
  Effect.map(store.schemaMigrations, (ms) => ms.map((m) => m.version))

const serverHarness = (
  kind: StateStoreSql.DialectKind,
  database: (name: string) => Effect.Effect<StateDrivers.TestDatabase, never, Scope.Scope>,
) =>
  Layer.scoped(
    Harness,
    Effect.gen(function* () {
      const db = yield* database("b24etl_state_test")
      const queries: Array<string> = []
      const store = yield* StateStoreSql.makeFromUrl(db.url, StateDrivers.drivers, {
        onQuery: (sql) => queries.push(sql),
      })
      const migrations = Effect.gen(function* () {
        const fresh = yield* database("b24etl_state_test_fresh")
        const open = StateStoreSql.makeFromUrl(fresh.url, StateDrivers.drivers)
        const tables = fresh
          .query(
            `select table_name as name from information_schema.tables
             where table_schema = ${kind === "mysql" ? "database()" : "current_schema()"} order by 1`,
          )
          .pipe(Effect.map((rows) => rows.map((r) => String(r.name))))
        assert.deepStrictEqual(yield* tables, [])
        // Two processes starting at once: one migrates, the other waits and finds nothing to do.
        const [a, b] = yield* Effect.all([open, open], { concurrency: 2 })
        assert.deepStrictEqual([...a.migrated, ...b.migrated], [1, 2, 3])
        const again = yield* open
        assert.deepStrictEqual(again.migrated, [])
        assert.deepStrictEqual(yield* tables, tableNames)
        assert.deepStrictEqual(yield* versions(again), [1, 2, 3])
        // A store made by the first release (schema version 1) is brought up to date on open.
        yield* fresh.query("drop table credentials")
        yield* fresh.query("drop table bindings")
        yield* fresh.query("alter table dead_letters drop column dismissed_at")
        yield* fresh.query("delete from schema_migrations where version in (2, 3)")
        const upgraded = yield* open
        assert.deepStrictEqual(upgraded.migrated, [2, 3])
        assert.deepStrictEqual(yield* tables, tableNames)
      })
      return {
        store,
        queries,
        url: db.url,
        another: Option.some(StateStoreSql.makeFromUrl(db.url, StateDrivers.drivers)),
        migrations,
      }
    }),
  )

/**
 * An embedded store in a directory that does not exist yet, as for a fresh clone: SQLite is what
 * a plain directory gets; PGlite is what a directory made by an older release holds, and a plain
 * directory holding it stays on it.
 */
const embeddedHarness = (kind: "sqlite" | "pglite") =>
  Layer.scoped(
    Harness,
    Effect.gen(function* () {
      const dir = join(yield* tempDir, ".pipeline", "state")
      const first = yield* Effect.scoped(
        Effect.gen(function* () {
          const store =
            kind === "sqlite"
              ? yield* StateStoreSql.makeFromUrl(dir, {})
              : yield* StateStoreSql.makePglite(dir)
          assert.strictEqual(store.dialect, kind)
          yield* store.commit({ pipeline: "migrations", entity: "e", created: [], checkpoint: { id: 7 } })
          return store.migrated
        }),
      )
      // A store made by the first release (schema version 1) is brought up to date on open.
      const upgraded =
        kind === "sqlite"
          ? yield* Effect.gen(function* () {
              yield* Effect.promise(async () => {
                const { Database } = (await import("node-sqlite3-wasm")).default
                const db = new Database(join(dir, StateStoreSql.sqliteFile))
                // The store's file is in WAL mode, which this build opens only with an exclusive lock.
                db.exec(`pragma locking_mode = exclusive; drop table credentials; drop table bindings;
                  alter table dead_letters drop column dismissed_at;
                  delete from schema_migrations where version in (2, 3)`)
                db.close()
              })
              return yield* Effect.scoped(
                Effect.map(StateStoreSql.makeFromUrl(`sqlite:${dir}`, {}), (s) => s.migrated),
              )
            })
          : [2, 3]
      const queries: Array<string> = []
      const store = yield* StateStoreSql.makeFromUrl(dir, {}, { onQuery: (sql) => queries.push(sql) })
      const migrations = Effect.gen(function* () {
        assert.deepStrictEqual(first, [1, 2, 3])
        assert.deepStrictEqual(upgraded, [2, 3])
        assert.strictEqual(store.dialect, kind)
        assert.deepStrictEqual(store.migrated, [])
        assert.deepStrictEqual(yield* versions(store), [1, 2, 3])
        // What the first opening wrote is still there after closing and reopening the directory.
        assert.deepStrictEqual(yield* store.checkpoint("migrations", "e"), Option.some({ id: 7 }))
      })
      return { store, queries, url: dir, another: Option.none(), migrations }
    }),
  )

const keys = (prefix: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `${prefix}${from + i}`)

const created = (sourceKeys: ReadonlyArray<string>, batchId = "b1") =>
  sourceKeys.map((sourceKey) => ({
    sourceKey,
    targetType: "company",
    targetId: `id-${sourceKey}`,
    payloadHash: `h-${sourceKey}`,
    batchId,
  }))

/** Lets fibers woken by the TestClock finish their database calls, until `done` holds. */
const settle = (done: Effect.Effect<boolean, StateStoreError>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1_000; i++) {
      if (yield* done) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
    assert.fail("the fibers did not settle within 5 s")
  })

/** True once some fiber sleeps until after now: the renewal or retry loop is idle again. */
const sleepingPastNow = Effect.gen(function* () {
  const now = yield* Clock.currentTimeMillis
  return Chunk.some(yield* TestClock.sleeps(), (at) => at > now)
})

const contract = (it: Vitest.MethodsNonLive<Harness | StateStore>) => {
  it.scoped("migrates an empty database, and migrating again is a no-op", () =>
    Effect.flatMap(Harness, (h) => h.migrations),
  )

  it.effect("markPending, commit and lookup round-trip; created rows are never marked pending again", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const p = "round-trip"
      yield* store.markPending(p, "company", "b1", [
        { sourceKey: "1", targetType: "company", payloadHash: "h1" },
        { sourceKey: "2", targetType: "company", payloadHash: "h2" },
        { sourceKey: "ABC", targetType: "company", payloadHash: "h3" },
        { sourceKey: "abc", targetType: "company", payloadHash: "h4" },
      ])
      const pending = yield* store.pending(p, "company")
      assert.deepStrictEqual(pending.map((e) => [e.sourceKey, e.status, e.batchId, e.targetId]).sort(), [
        ["1", "pending", "b1", null],
        ["2", "pending", "b1", null],
        ["ABC", "pending", "b1", null],
        ["abc", "pending", "b1", null],
      ])
      yield* TestClock.adjust("1 second")
      yield* store.commit({
        pipeline: p,
        entity: "company",
        created: [
          { sourceKey: "1", targetType: "company", targetId: "101", payloadHash: "h1", batchId: "b1" },
        ],
        released: ["2"],
        deadLetters: [
          {
            entity: "company",
            sourceKey: "2",
            stage: "write",
            code: "ERROR_CORE",
            message: "bad",
            payload: { a: 1 },
          },
        ],
        checkpoint: { updated_at: "2026-01-01T00:00:00.000Z", id: 1 },
      })
      const found = yield* store.lookup(p, "company", ["1", "2", "ABC", "abc", "missing"])
      assert.deepStrictEqual([...found.keys()].sort(), ["1", "ABC", "abc"])
      const one = found.get("1")!
      assert.strictEqual(one.status, "created")
      assert.strictEqual(one.targetId, "101")
      assert.strictEqual(one.targetType, "company")
      assert.strictEqual(one.payloadHash, "h1")
      assert.strictEqual(one.updatedAt.getTime(), (yield* Clock.currentTimeMillis) - 0)
      // Source keys differ by case: the id map keeps them apart (binary collation on MySQL).
      assert.strictEqual(found.get("abc")!.payloadHash, "h4")

      // A new run marks "1" pending again: it is created already, so nothing changes.
      yield* store.markPending(p, "company", "b2", [
        { sourceKey: "1", targetType: "company", payloadHash: "changed" },
        { sourceKey: "ABC", targetType: "company", payloadHash: "h3-again" },
      ])
      const after = yield* store.lookup(p, "company", ["1", "ABC"])
      assert.deepStrictEqual(
        [
          after.get("1")!.status,
          after.get("1")!.batchId,
          after.get("1")!.payloadHash,
          after.get("1")!.targetId,
        ],
        ["created", "b1", "h1", "101"],
      )
      assert.deepStrictEqual([after.get("ABC")!.batchId, after.get("ABC")!.payloadHash], ["b2", "h3-again"])
      assert.deepStrictEqual(yield* store.idMapCounts(p), [
        { entity: "company", status: "created", count: 1 },
        { entity: "company", status: "pending", count: 2 },
      ])
      assert.deepStrictEqual(yield* store.lookup(p, "company", []), new Map())
    }),
  )

  it.effect(
    "keys of up to 255 characters, in any case or script, are kept exactly; longer ones are refused",
    () =>
      Effect.gen(function* () {
        const { store } = yield* Harness
        const p = "keys"
        const longest = `${"k".repeat(254)}\u00e9`
        const odd = ['["eu","42"]', "trailing ", "trailing", "Ünïcødé 😀", "a'b\"c\\d"]
        yield* store.commit({
          pipeline: p,
          entity: "company",
          created: created([longest, ...odd]).map((r) => ({
            ...r,
            targetId: r.sourceKey.length.toString(),
            payloadHash: "h",
          })),
        })
        const found = yield* store.lookup(p, "company", [longest, ...odd])
        assert.deepStrictEqual([...found.keys()].sort(), [longest, ...odd].sort())
        assert.strictEqual(found.get("trailing ")!.targetId, "9")
        const tooLong = yield* Effect.flip(
          store.commit({ pipeline: p, entity: "company", created: created(["x".repeat(256)]) }),
        )
        assert.include(tooLong.message, "company key")
        assert.include(tooLong.message, "up to 255")
        const notPending = yield* Effect.flip(
          store.markPending(p, "company", "b", [
            { sourceKey: "y".repeat(300), targetType: "company", payloadHash: "h" },
          ]),
        )
        assert.include(notPending.message, "300 characters")
      }),
  )

  it.effect("committing the same batch twice is harmless", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const p = "twice"
      const rows = keys("k", 50)
      yield* store.markPending(
        p,
        "deal",
        "b1",
        rows.map((sourceKey) => ({ sourceKey, targetType: "deal", payloadHash: `h-${sourceKey}` })),
      )
      const batch = {
        pipeline: p,
        entity: "deal",
        created: created(rows.slice(0, 45)),
        released: rows.slice(45),
        deadLetters: rows.slice(45).map((sourceKey) => ({
          entity: "deal",
          sourceKey,
          stage: "write",
          code: "VALIDATION",
          message: `deal ${sourceKey}: title is required`,
          payload: { id: sourceKey },
        })),
        checkpoint: { id: 50 },
      }
      yield* store.commit(batch)
      const first = yield* store.idMapCounts(p)
      yield* store.commit(batch)
      assert.deepStrictEqual(yield* store.idMapCounts(p), first)
      assert.deepStrictEqual(first, [{ entity: "deal", status: "created", count: 45 }])
      const found = yield* store.lookup(p, "deal", rows)
      assert.strictEqual(found.size, 45)
      assert.strictEqual(found.get("k7")!.targetId, "id-k7")
      assert.strictEqual(yield* store.deadLetterCount(p), 5)
      // Each commit of a failure counts as one more attempt on it; the row is never duplicated.
      const letters = yield* store.deadLetters(p)
      assert.deepStrictEqual(
        letters.map((d) => [d.sourceKey, d.attempts]),
        rows.slice(45).map((k) => [k, 2]),
      )
      assert.deepStrictEqual(yield* store.checkpoint(p, "deal"), Option.some({ id: 50 }))
      // The same key twice in one batch is one row (the last one wins).
      yield* store.commit({
        pipeline: p,
        entity: "deal",
        created: [...created(["dup"], "x"), ...created(["dup"], "y")],
      })
      assert.strictEqual((yield* store.lookup(p, "deal", ["dup"])).get("dup")!.batchId, "y")
    }),
  )

  it.effect("a lookup of 1,000 keys in a 100,000-row id map is one query", () =>
    Effect.gen(function* () {
      const { queries, store } = yield* Harness
      const p = "big"
      const all = keys("legacy-", 100_000)
      const started = performance.now()
      queries.length = 0
      // One transaction of multi-row inserts: a handful of statements, not 100,000.
      yield* store.commit({ pipeline: p, entity: "contact", created: created(all) })
      const insertMs = performance.now() - started
      assert.isBelow(queries.length, 100, `inserting 100,000 rows took ${queries.length} queries`)
      assert.isBelow(insertMs, 30_000, `inserting 100,000 rows took ${Math.round(insertMs)} ms`)
      assert.deepStrictEqual(yield* store.idMapCounts(p), [
        { entity: "contact", status: "created", count: 100_000 },
      ])

      // 500 keys that exist, spread over the table, and 500 that do not.
      const wanted = [...Array.from({ length: 500 }, (_, i) => `legacy-${i * 199}`), ...keys("absent-", 500)]
      queries.length = 0
      const found = yield* store.lookup(p, "contact", wanted)
      assert.strictEqual(queries.length, 1, queries.join("\n"))
      assert.strictEqual(found.size, 500)
      assert.strictEqual(found.get("legacy-99301")!.targetId, "id-legacy-99301")

      // Several entities' keys (a batch's references) in one query too.
      yield* store.commit({ pipeline: p, entity: "company", created: created(["c1", "c2"]) })
      queries.length = 0
      const many = yield* store.lookupMany(p, [
        { entity: "contact", keys: ["legacy-1", "legacy-2", "nope"] },
        { entity: "company", keys: ["c2", "legacy-1"] },
        { entity: "deal", keys: [] },
      ])
      assert.strictEqual(queries.length, 1, queries.join("\n"))
      assert.deepStrictEqual(many.map((e) => `${e.entity}/${e.sourceKey}`).sort(), [
        "company/c2",
        "contact/legacy-1",
        "contact/legacy-2",
      ])
      queries.length = 0
      assert.deepStrictEqual(yield* store.lookupMany(p, [{ entity: "deal", keys: [] }]), [])
      assert.strictEqual(queries.length, 0)
    }),
  )

  it.effect(
    "PostgreSQL and PGlite analyze id_map as the rows written double; MySQL and SQLite need not",
    () =>
      Effect.gen(function* () {
        const { queries, store } = yield* Harness
        queries.length = 0
        // Without statistics the planner looks keys up through the status index (bench/runner.ts).
        for (let batch = 0; batch < 5; batch++)
          yield* store.markPending(
            "statistics",
            "company",
            `b${batch}`,
            keys(`s${batch}-`, 1_000).map((sourceKey) => ({
              sourceKey,
              targetType: "company",
              payloadHash: "h",
            })),
          )
        const analyses = queries.filter((q) => /^analyze id_map/i.test(q.trim())).length
        if (store.dialect === "mysql" || store.dialect === "sqlite") assert.strictEqual(analyses, 0)
        else assert.isAtLeast(analyses, 1)
        yield* store.reset("statistics")
      }),
  )

  it.effect("dead letters are upserted, count attempts, and leave when recovered", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const p = "letters"
      const letter = (sourceKey: string, message: string) => ({
        entity: "contact",
        sourceKey,
        stage: "reference",
        code: "UNRESOLVED_REFERENCE",
        message,
        payload: { id: sourceKey, name: "Ann \u00e9\u{1F600}", nested: [1, null, true] },
      })
      yield* store.commit({
        pipeline: p,
        entity: "contact",
        created: [],
        deadLetters: [letter("7", "first")],
      })
      yield* TestClock.adjust("1 minute")
      yield* store.commit({
        pipeline: p,
        entity: "contact",
        created: [],
        deadLetters: [letter("7", "second"), letter("8", "other")],
      })
      const letters = yield* store.deadLetters(p, { entity: "contact" })
      assert.deepStrictEqual(
        letters.map((d) => [d.sourceKey, d.attempts, d.message]),
        [
          ["7", 2, "second"],
          ["8", 1, "other"],
        ],
      )
      assert.deepStrictEqual(letters[0]!.payload, letter("7", "").payload)
      assert.strictEqual(letters[0]!.updatedAt.getTime(), yield* Clock.currentTimeMillis)
      assert.strictEqual((yield* store.deadLetters(p, { limit: 1 })).length, 1)
      assert.strictEqual((yield* store.deadLetters(p, { entity: "deal" })).length, 0)
      const found = yield* store.lookupDeadLetters(p, [
        { entity: "contact", keys: ["8", "9"] },
        { entity: "deal", keys: ["8"] },
        { entity: "company", keys: [] },
      ])
      assert.deepStrictEqual(
        found.map((d) => [d.entity, d.sourceKey, d.code, d.message]),
        [["contact", "8", "UNRESOLVED_REFERENCE", "other"]],
      )
      assert.deepStrictEqual(yield* store.lookupDeadLetters(p, []), [])

      yield* store.commit({ pipeline: p, entity: "contact", created: created(["7"]), recovered: ["7"] })
      assert.deepStrictEqual(
        (yield* store.deadLetters(p)).map((d) => d.sourceKey),
        ["8"],
      )
      assert.strictEqual(yield* store.deadLetterCount(p), 1)
    }),
  )

  it.effect("dismissed dead letters stay listed, stop counting, and count again with a new reason", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const p = "dismissals"
      const letter = (entity: string, sourceKey: string, code: string) => ({
        entity,
        sourceKey,
        stage: "write",
        code,
        message: `${code} on ${sourceKey}`,
        payload: { id: sourceKey },
      })
      yield* store.commit({
        pipeline: p,
        entity: "contact",
        created: [],
        deadLetters: [
          letter("contact", "1", "BAD_EMAIL"),
          letter("contact", "2", "BAD_EMAIL"),
          letter("contact", "3", "UNRESOLVED_REFERENCE"),
        ],
      })
      yield* store.commit({
        pipeline: p,
        entity: "deal",
        created: [],
        deadLetters: [letter("deal", "1", "BAD_EMAIL")],
      })
      assert.strictEqual(yield* store.deadLetterCount(p), 4)

      assert.strictEqual(yield* store.dismissDeadLetters(p, { entity: "contact", keys: ["1", "9"] }), 1)
      assert.strictEqual(yield* store.dismissDeadLetters(p, { code: "BAD_EMAIL" }), 2)
      assert.strictEqual(yield* store.dismissDeadLetters(p, { code: "BAD_EMAIL" }), 0)
      assert.strictEqual(yield* store.deadLetterCount(p), 1)
      const listed = yield* store.deadLetters(p)
      assert.deepStrictEqual(
        listed.map((d) => [d.entity, d.sourceKey, d.dismissedAt !== null]),
        [
          ["contact", "1", true],
          ["contact", "2", true],
          ["contact", "3", false],
          ["deal", "1", true],
        ],
      )

      // The same failure again keeps the dismissal; another reason makes it count again.
      yield* store.commit({
        pipeline: p,
        entity: "contact",
        created: [],
        deadLetters: [letter("contact", "1", "BAD_EMAIL"), letter("contact", "2", "CRM_FIELD_ERROR")],
      })
      const again = yield* store.lookupDeadLetters(p, [{ entity: "contact", keys: ["1", "2"] }])
      assert.deepStrictEqual(
        again.map((d) => [d.sourceKey, d.code, d.attempts, d.dismissedAt !== null]),
        [
          ["1", "BAD_EMAIL", 2, true],
          ["2", "CRM_FIELD_ERROR", 2, false],
        ],
      )
      assert.strictEqual(yield* store.deadLetterCount(p), 2)
    }),
  )

  it.effect("a pipeline's binding is kept, moved, listed, and forgotten by a full reset only", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      assert.isTrue(Option.isNone(yield* store.binding("bound")))
      yield* store.bind({
        pipeline: "bound",
        target: "bitrix24 https://a.bitrix24.com (webhook user 1)",
        originator: "bound",
        source: "postgres 127.0.0.1:5432/crm",
      })
      yield* store.bind({
        pipeline: "bound-too",
        target: "bitrix24 https://b.bitrix24.com",
        originator: "x",
        source: null,
      })
      const first = yield* store.binding("bound")
      assert.deepStrictEqual(
        Option.map(first, (b) => [b.target, b.originator, b.source]),
        Option.some([
          "bitrix24 https://a.bitrix24.com (webhook user 1)",
          "bound",
          "postgres 127.0.0.1:5432/crm",
        ]),
      )
      yield* store.bind({
        pipeline: "bound",
        target: "bitrix24 https://c.bitrix24.com",
        originator: "bound",
        source: null,
      })
      assert.deepStrictEqual(
        Option.map(yield* store.binding("bound"), (b) => b.target),
        Option.some("bitrix24 https://c.bitrix24.com"),
      )
      assert.deepStrictEqual(
        (yield* store.bindings).filter((b) => b.pipeline.startsWith("bound")).map((b) => b.pipeline),
        ["bound", "bound-too"],
      )
      yield* store.reset("bound", "company")
      assert.isTrue(Option.isSome(yield* store.binding("bound")))
      yield* store.reset("bound")
      assert.isTrue(Option.isNone(yield* store.binding("bound")))
      assert.isTrue(Option.isSome(yield* store.binding("bound-too")))
    }),
  )

  it.effect("checkpoints are kept per entity and overwritten", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const p = "checkpoints"
      assert.deepStrictEqual(yield* store.checkpoint(p, "company"), Option.none())
      yield* store.commit({ pipeline: p, entity: "company", created: [], checkpoint: { at: "a", id: 1 } })
      yield* store.commit({ pipeline: p, entity: "deal", created: [], checkpoint: [1, "x"] })
      yield* TestClock.adjust("5 seconds")
      yield* store.commit({ pipeline: p, entity: "company", created: [], checkpoint: { at: "b", id: 2 } })
      assert.deepStrictEqual(yield* store.checkpoint(p, "company"), Option.some({ at: "b", id: 2 }))
      const all = yield* store.checkpoints(p)
      assert.deepStrictEqual(
        all.map((c) => [c.entity, c.cursor]),
        [
          ["company", { at: "b", id: 2 }],
          ["deal", [1, "x"]],
        ],
      )
      assert.isAbove(all[0]!.updatedAt.getTime(), all[1]!.updatedAt.getTime())
    }),
  )

  it.effect(
    "a run's rows are listed by batch prefix and status; an update keeps the creating batch; a checkpoint is forgotten alone",
    () =>
      Effect.gen(function* () {
        const { store } = yield* Harness
        const p = "undo-rows"
        const row = (key: string, batchId: string | null, hash = "h") => ({
          sourceKey: key,
          targetType: "deal",
          targetId: `9${key}`,
          payloadHash: hash,
          batchId,
        })
        yield* store.commit({
          pipeline: p,
          entity: "deal",
          created: [row("1", "run_1:deal:0"), row("2", "run_1:deal:0"), row("3", "run_10:deal:0")],
          checkpoint: { id: 3 },
        })
        // An update (no batch) of a row created by run_1.
        yield* store.commit({ pipeline: p, entity: "deal", created: [row("2", null, "h2")] })
        yield* store.commit({
          pipeline: p,
          entity: "deal",
          created: [],
          deleting: [{ sourceKey: "1", payloadHash: "h" }],
        })
        const keys = (rows: ReadonlyArray<{ readonly sourceKey: string }>) => rows.map((r) => r.sourceKey)
        assert.deepStrictEqual(
          keys(
            yield* store.idMapRows(p, "deal", { statuses: ["created", "deleting"], batchPrefix: "run_1:" }),
          ),
          ["1", "2"],
        )
        assert.deepStrictEqual(keys(yield* store.idMapRows(p, "deal", { statuses: ["created"] })), ["2", "3"])
        assert.deepStrictEqual(yield* store.idMapRows(p, "deal", { statuses: [] }), [])
        const updated = (yield* store.lookup(p, "deal", ["2"])).get("2")!
        assert.deepStrictEqual([updated.payloadHash, updated.batchId], ["h2", "run_1:deal:0"])
        yield* store.forgetCheckpoint(p, "deal")
        assert.deepStrictEqual(yield* store.checkpoint(p, "deal"), Option.none())
        assert.strictEqual((yield* store.lookup(p, "deal", ["1", "2", "3"])).size, 3, "the id map stays")
      }),
  )

  it.effect("reset forgets an entity, or the whole pipeline", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const p = "reset"
      const fill = (entity: string) =>
        store.commit({
          pipeline: p,
          entity,
          created: created(["1", "2"]),
          deadLetters: [{ entity, sourceKey: "3", stage: "write", code: "X", message: "m", payload: null }],
          checkpoint: { id: 2 },
        })
      yield* fill("company")
      yield* fill("contact")
      yield* store.commit({ pipeline: "reset-other", entity: "company", created: created(["1"]) })

      yield* store.reset(p, "company")
      assert.deepStrictEqual(yield* store.idMapCounts(p), [
        { entity: "contact", status: "created", count: 2 },
      ])
      assert.deepStrictEqual(yield* store.checkpoint(p, "company"), Option.none())
      assert.deepStrictEqual(yield* store.checkpoint(p, "contact"), Option.some({ id: 2 }))
      assert.deepStrictEqual(
        (yield* store.deadLetters(p)).map((d) => d.entity),
        ["contact"],
      )

      yield* store.reset(p)
      assert.deepStrictEqual(yield* store.idMapCounts(p), [])
      assert.deepStrictEqual(yield* store.checkpoints(p), [])
      assert.strictEqual(yield* store.deadLetterCount(p), 0)
      assert.strictEqual((yield* store.lookup("reset-other", "company", ["1"])).size, 1)
    }),
  )

  it.effect("credentials are kept by name, overwritten, and shared by every store on the database", () =>
    Effect.gen(function* () {
      const { store, another } = yield* Harness
      const name = "bitrix24-oauth https://acme.bitrix24.com local.app"
      assert.isTrue(Option.isNone(yield* store.loadCredential(name)))
      yield* store.saveCredential(name, "v1.first")
      yield* store.saveCredential(name, "v1.second")
      yield* store.saveCredential(`${name} other`, "v1.other")
      assert.deepStrictEqual(yield* store.loadCredential(name), Option.some("v1.second"))
      assert.deepStrictEqual(yield* store.loadCredential(`${name} other`), Option.some("v1.other"))
      // Not a pipeline's state: resetting a pipeline keeps them.
      yield* store.reset("any-pipeline")
      assert.deepStrictEqual(yield* store.loadCredential(name), Option.some("v1.second"))
      if (Option.isSome(another)) {
        const second = yield* Effect.scoped(
          Effect.flatMap(another.value, (other) => other.loadCredential(name)),
        )
        assert.deepStrictEqual(second, Option.some("v1.second"))
      }
    }),
  )

  it.effect("runs are recorded and listed newest first", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const p = "runs"
      const first = yield* store.startRun(p)
      assert.strictEqual(first.status, "running")
      yield* TestClock.adjust("10 seconds")
      yield* store.finishRun(first.id, "succeeded", { company: { created: 3 } })
      const second = yield* store.startRun(p)
      yield* TestClock.adjust("1 second")
      yield* store.finishRun(second.id, "partial", { deadLetters: 1 })
      const third = yield* store.startRun(p)
      yield* store.startRun("runs-other")

      const runs = yield* store.recentRuns(p, 10)
      assert.deepStrictEqual(
        runs.map((r) => [r.id, r.status]),
        [
          [third.id, "running"],
          [second.id, "partial"],
          [first.id, "succeeded"],
        ],
      )
      const done = runs[2]!
      assert.deepStrictEqual(done.stats, { company: { created: 3 } })
      assert.strictEqual(done.finishedAt!.getTime() - done.startedAt.getTime(), 10_000)
      assert.strictEqual(runs[0]!.finishedAt, null)
      assert.strictEqual((yield* store.recentRuns(p, 1)).length, 1)
    }),
  )

  it.scoped("two concurrent lockers never both hold the lock", () =>
    Effect.gen(function* () {
      const { another, store } = yield* Harness
      // Server databases: separate stores with their own pools, as separate processes would have.
      const others = yield* Option.match(another, {
        onNone: () => Effect.succeed([]),
        onSome: (open) => Effect.all([open, open]),
      })
      const stores = [store, ...others]

      // Twenty owners race for a free lock in the same instant: exactly one gets it.
      const raced = yield* Effect.all(
        Array.from({ length: 20 }, (_, i) =>
          stores[i % stores.length]!.acquireLock("race", `owner-${i}`, 60_000),
        ),
        { concurrency: "unbounded" },
      )
      assert.strictEqual(raced.filter(Boolean).length, 1)

      // Workers take and release the lock over and over; nobody ever sees another holder inside.
      let inside = 0
      let most = 0
      let entries = 0
      const worker = (i: number) =>
        Effect.gen(function* () {
          for (let round = 0; round < 6; round++) {
            yield* Effect.scoped(
              Effect.gen(function* () {
                yield* Lock.acquire("mutex", { owner: `worker-${i}`, leaseMs: 60_000 })
                inside++
                entries++
                most = Math.max(most, inside)
                yield* stores[i % stores.length]!.deadLetterCount("mutex")
                inside--
              }).pipe(Effect.provideService(StateStore, stores[i % stores.length]!)),
            ).pipe(Effect.catchTag("LockError", () => Effect.void))
          }
        })
      yield* Effect.all(
        Array.from({ length: 6 }, (_, i) => worker(i)),
        { concurrency: "unbounded" },
      )
      assert.strictEqual(most, 1)
      assert.isAbove(entries, 0)
    }),
  )

  it.scoped("a lock whose holder died is taken over after its lease", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const name = "pipeline:died"
      // The holder takes the lock and dies: it never renews and never releases.
      assert.isTrue(yield* store.acquireLock(name, "dead-host:4242", 30_000))
      const refused = yield* Effect.flip(Effect.scoped(Lock.acquire(name, { owner: "b", leaseMs: 30_000 })))
      assert.strictEqual(refused._tag, "LockError")
      if (refused._tag === "LockError") {
        assert.strictEqual(refused.holder, "dead-host:4242")
        assert.include(refused.message, "dead-host:4242")
      }
      yield* TestClock.adjust("29999 millis")
      assert.isFalse(yield* store.acquireLock(name, "b", 30_000))

      // A waiter polls; the moment the lease has run out, it takes the lock over.
      const waiter = yield* Effect.fork(
        Effect.scoped(
          Lock.acquireWait(name, { owner: "c", leaseMs: 30_000, retryEvery: "1 second" }).pipe(
            Effect.map((lock) => lock.owner),
          ),
        ),
      )
      yield* settle(sleepingPastNow)
      yield* TestClock.adjust("1 second")
      yield* settle(Effect.map(Fiber.poll(waiter), Option.isSome))
      assert.strictEqual(yield* Fiber.join(waiter), "c")
      // Its scope closed, so it released the lock.
      assert.deepStrictEqual(yield* store.lockHolder(name), Option.none())
    }),
  )

  it.scoped("a live holder keeps renewing its lease", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const name = "pipeline:alive"
      const lock = yield* Lock.acquire(name, { owner: "alive", leaseMs: 30_000 })
      assert.strictEqual(lock.owner, "alive")
      yield* settle(sleepingPastNow)
      for (let i = 0; i < 6; i++) {
        yield* TestClock.adjust("10 seconds")
        yield* settle(sleepingPastNow)
      }
      // A minute on, twice the lease: still held, because it was renewed.
      const now = yield* Clock.currentTimeMillis
      assert.isFalse(yield* store.acquireLock(name, "intruder", 30_000))
      const holder = Option.getOrThrow(yield* store.lockHolder(name))
      assert.strictEqual(holder.owner, "alive")
      assert.isAtLeast(holder.expiresAt.getTime(), now + 20_000)
    }),
  )

  it.scoped("a holder of this host whose process is gone loses the lock at once; others are named once", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      const name = "pipeline:dead-holder"
      // A process that has ended: its pid no longer exists.
      const deadPid = spawnSync(process.execPath, ["-e", ""]).pid
      assert.isTrue(yield* store.acquireLock(name, `${hostname()}:${deadPid}:k1lled`, 30_000))
      const lock = yield* Lock.acquire(name, { owner: "next", leaseMs: 30_000 })
      assert.strictEqual(Option.getOrThrow(yield* store.lockHolder(name)).owner, lock.owner)
      // A live process of this host keeps it (this test's parent process is alive).
      const live = "pipeline:live-holder"
      assert.isTrue(yield* store.acquireLock(live, `${hostname()}:${process.ppid}:al1ve`, 30_000))
      const refused = yield* Effect.flip(
        Effect.scoped(Lock.acquire(live, { owner: "next", leaseMs: 30_000 })),
      )
      assert.strictEqual(
        refused._tag === "LockError" && refused.holder,
        `${hostname()}:${process.ppid}:al1ve`,
      )
      // A holder elsewhere: named once, with the time its lease ends, and no advice repeated.
      const far = "pipeline:far-holder"
      assert.isTrue(yield* store.acquireLock(far, "elsewhere:123:abc", 30_000))
      const error = yield* Effect.flip(Effect.scoped(Lock.acquire(far, { owner: "next", leaseMs: 30_000 })))
      assert.match(
        error.message,
        /^lock "pipeline:far-holder" is held by process 123 on host elsewhere until \S+Z unless it renews it$/,
      )
      // `pipeline unlock`: freed whoever holds it.
      assert.strictEqual(Option.getOrThrow(yield* Lock.forceRelease(far)).owner, "elsewhere:123:abc")
      assert.deepStrictEqual(yield* store.lockHolder(far), Option.none())
      assert.isTrue(Option.isNone(yield* Lock.forceRelease(far)))
    }),
  )

  it.scoped("a holder whose lock was taken over fails with LockLost", () =>
    Effect.gen(function* () {
      const { store } = yield* Harness
      // Someone takes the lock from under its holder (say the holder was frozen past its lease).
      const victim = yield* Effect.fork(
        Lock.withLock("pipeline:victim", { owner: "victim", leaseMs: 30_000 })(Effect.never),
      )
      yield* settle(Effect.map(store.lockHolder("pipeline:victim"), Option.isSome))
      yield* settle(sleepingPastNow)
      yield* store.releaseLock("pipeline:victim", "victim")
      assert.isTrue(yield* store.acquireLock("pipeline:victim", "thief", 30_000))
      yield* TestClock.adjust("10 seconds")
      yield* settle(Effect.map(Fiber.poll(victim), Option.isSome))
      const exit = yield* Fiber.await(victim)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.strictEqual(Option.getOrUndefined(error)?._tag, "LockLost")
      // The victim's release did not free the thief's lock.
      assert.strictEqual(Option.getOrThrow(yield* store.lockHolder("pipeline:victim")).owner, "thief")
    }),
  )

  it.scoped("opens by URL (also Redacted); the location and error messages hide the password", () =>
    Effect.gen(function* () {
      const { store, url: own } = yield* Harness
      // The other spelling of each scheme, from a Redacted config value.
      const alias = own.replace(/^postgres:/, "postgresql:").replace(/^mysql:/, "mariadb:")
      const embedded = store.dialect === "pglite" || store.dialect === "sqlite"
      if (!embedded) {
        const again = yield* StateStoreSql.makeFromUrl(Redacted.make(alias), StateDrivers.drivers)
        assert.strictEqual(again.dialect, store.dialect)
        assert.deepStrictEqual(yield* versions(again), [1, 2, 3])
      }
      if (embedded) {
        // An embedded directory is one process's: opening it again while it is open is refused,
        // however it is named.
        for (const url of [own, `${store.dialect}:${own}`, `${store.dialect}://${own}`]) {
          const busy = yield* Effect.flip(StateStoreSql.makeFromUrl(url, {}))
          assert.include(busy.message, `is open in process ${process.pid}`)
        }
        // Naming the other embedded database is refused before anything is opened.
        const other = store.dialect === "sqlite" ? "pglite" : "sqlite"
        const wrong = yield* Effect.flip(StateStoreSql.makeFromUrl(`${other}:${own}`, {}))
        assert.include(
          wrong.message,
          `${own} holds ${store.dialect === "sqlite" ? "SQLite" : "PGlite"} state`,
        )
        assert.deepStrictEqual(yield* versions(store), [1, 2, 3])
      }
      const unsupported = yield* Effect.flip(StateStoreSql.makeFromUrl("mongodb://etl:pw@x/state", {}))
      assert.include(unsupported.message, "unsupported state store URL")
      assert.notInclude(unsupported.message, "pw@")
      if (!embedded) {
        // Nothing listens on port 9: opening fails, and neither location nor message shows the password.
        const url = `${store.dialect}://etl:hunter2secret@127.0.0.1:9/state`
        const error = yield* Effect.flip(StateStoreSql.makeFromUrl(url, StateDrivers.drivers))
        assert.notInclude(error.message, "hunter2secret")
        assert.notInclude(JSON.stringify({ ...error, cause: undefined }), "hunter2secret")
        const closed = yield* Effect.flip(StateStoreSql.makeFromUrl(url, {}))
        assert.include(closed.message, "etl:***@")
      }
      assert.strictEqual(
        StateStoreSql.redactUrl("postgres://etl:s3cret@db:5432/state?sslpassword=x"),
        "postgres://etl:***@db:5432/state?sslpassword=***",
      )
    }),
  )
}

/** The harness, with its store also as the `StateStore` service (what `Lock` uses). */
const withStore = <E>(harness: Layer.Layer<Harness, E>) =>
  Layer.provideMerge(
    Layer.effect(
      StateStore,
      Effect.map(Harness, (h) => h.store),
    ),
    harness,
  )

const postgres = serverHarness("postgres", StateDrivers.postgresDatabase)
const mariadb = serverHarness("mysql", StateDrivers.mysqlDatabase)

layer(withStore(postgres), { timeout: "60 seconds" })("StateStore (PostgreSQL)", contract)
layer(withStore(mariadb), { timeout: "60 seconds" })("StateStore (MariaDB)", contract)
layer(withStore(embeddedHarness("sqlite")), { timeout: "60 seconds" })("StateStore (SQLite)", contract)
layer(withStore(embeddedHarness("pglite")), { timeout: "60 seconds" })("StateStore (PGlite)", contract)
