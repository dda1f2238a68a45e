import { Chunk, Clock, Data, Deferred, Effect, Option, Ref, Stream } from "effect"
import { type Outcome, type Prepared, prepare } from "./internal/runner/prepare.js"
import { type Json, toJson } from "./Json.js"
import * as Lock from "./Lock.js"
import * as Pipeline from "./Pipeline.js"
import * as Progress from "./Progress.js"
import * as Reference from "./Reference.js"
import type { EntityReport, RunReport } from "./Report.js"
import type * as Sink from "./Sink.js"
import type * as Source from "./Source.js"
import { type DeadLetter, type DeadLetterInput, StateStore, type StateStoreError } from "./StateStore.js"

/**
 * The run loop. For each entity, in the order of its references: read the source (from the
 * checkpoint when incremental), decode, transform and map each record, then in chunks:
 * look up the id map (one query), skip unchanged records, resolve references (one query),
 * record the creates as `pending`, send them in batches, and commit ids, dead letters and the
 * checkpoint. Records left `pending` by a crash are found in the target before anything is
 * sent again, so no run creates a record twice.
 */

export interface RunOptions {
  /** Everything but the writes: nothing is sent and no state is changed. */
  readonly dryRun?: boolean | undefined
  /** Read at most this many records per entity. */
  readonly limit?: number | undefined
  /** Only these entities (their references must already be in the id map). */
  readonly entities?: ReadonlyArray<string> | undefined
  /** Only the records in the dead letters, read again from the start (`pipeline retry`). */
  readonly onlyDeadLetters?: boolean | undefined
  /**
   * Completes when the run should stop (SIGINT/SIGTERM): reading stops, batches in flight are
   * finished and committed, and the report says `interrupted`.
   */
  readonly stop?: Effect.Effect<void> | undefined
  /** Records per id-map lookup and per checkpoint step. Default: the pipeline's bufferSize or 500. */
  readonly chunkSize?: number | undefined
  /** How long the pipeline lock is held without renewal; a dead holder loses it after this. */
  readonly lockLeaseMs?: number | undefined
  /**
   * A scheduled tick: once the lock is held, the run is skipped when a run of this pipeline has
   * started at or after this time (another process served the same tick).
   */
  readonly tick?: Date | undefined
}

/** The run could not start or had to stop: the message says what, where and what to do. */
export class RunError extends Data.TaggedError("RunError")<{
  readonly pipeline: string
  readonly entity?: string | undefined
  readonly message: string
  /** Another process holds the pipeline's lock: nothing was done. */
  readonly locked?: boolean | undefined
  /** Another process already ran this scheduled tick: nothing was done. */
  readonly alreadyRan?: boolean | undefined
  readonly cause?: unknown
}> {}

export interface PlanEntityResult {
  readonly entity: string
  readonly target: string
  readonly source: string
  readonly count?: number | undefined
  readonly fields: ReadonlyArray<string>
  readonly incremental: boolean
}

export interface PlanResult {
  readonly pipeline: string
  readonly order: ReadonlyArray<string>
  readonly entities: ReadonlyArray<PlanEntityResult>
  readonly sink: Sink.PlanReport
}

const UNRESOLVED = "UNRESOLVED_REFERENCE"

/** Why a referenced record has no id in the target, for the dependant's dead letter. */
const whyUnresolved = (
  ref: Reference.Reference,
  parentLetters: ReadonlyMap<string, DeadLetter>,
  pending: ReadonlySet<string>,
  skipped: ReadonlyMap<string, "deleted" | "filtered">,
): string => {
  const key = `${ref.entity}\u0000${ref.key}`
  const letter = parentLetters.get(key)
  if (letter !== undefined) {
    const message = letter.message.length > 200 ? `${letter.message.slice(0, 200)}…` : letter.message
    return `that record failed (stage ${letter.stage}, ${letter.code}: ${message})`
  }
  if (pending.has(key))
    return "an interrupted run left that record pending; the next run of its entity checks the target for it"
  switch (skipped.get(key)) {
    case "deleted":
      return "that record is deleted in the source, so it was not created (its entity's deleted rule)"
    case "filtered":
      return "a step of its entity filtered that record out"
  }
  return "that record was never written: the source has no such record, or an earlier run skipped it, or its entity has not run yet"
}
// The sink retries limits and transient errors itself; these attempts cover what it gave up on.
const MAX_WRITE_ATTEMPTS = 5

const message = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e && typeof e.message === "string"
    ? e.message
    : String(e)

/** Connects every distinct source of the pipeline once. */
const connectSources = (pipeline: Pipeline.Pipeline, entities: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const connections = new Map<Source.Source<unknown>, Source.Connection<unknown>>()
    for (const name of entities) {
      const source = pipeline.entities[name]!.from.source
      if (!connections.has(source)) connections.set(source, yield* source.connect)
    }
    return connections
  })

/** The state store as the place sinks keep rotating credentials. */
const credentialsOf = (store: StateStore): Sink.Credentials => ({
  load: store.loadCredential,
  save: store.saveCredential,
})

/**
 * Checks a pipeline without writing: definition, entity order, source counts, and the sink's
 * check of the fields the mappings produce on a sample of records.
 */
export const plan = (
  pipeline: Pipeline.Pipeline,
  options: {
    readonly sample?: number
    /** Where the sink keeps rotating credentials; default: the state store, when one is provided. */
    readonly credentials?: Sink.Credentials | undefined
  } = {},
): Effect.Effect<PlanResult, Pipeline.DefinitionError | RunError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const order = yield* Pipeline.validate(pipeline)
      const sources = yield* connectSources(pipeline, order)
      // A plan may refresh an OAuth token too: with a state store at hand, the rotated one is kept.
      const store = yield* Effect.serviceOption(StateStore)
      const sink = yield* pipeline.sink.connect({
        originator: Pipeline.originator(pipeline),
        dryRun: true,
        credentials: options.credentials ?? Option.getOrUndefined(Option.map(store, credentialsOf)),
      })
      const entities: Array<PlanEntityResult> = []
      for (const name of order) {
        const entity = pipeline.entities[name]!
        const conn = sources.get(entity.from.source)!
        const count = conn.count ? yield* conn.count(entity.from.spec, {}) : undefined
        const fields = new Set<string>()
        const preparer = prepare(pipeline.name, name, entity)
        yield* conn.read(entity.from.spec, { limit: options.sample ?? 20 }).pipe(
          Stream.runForEach((record) =>
            preparer.one(record).pipe(
              Effect.map((o) => {
                if (o._tag === "Prepared")
                  for (const f of [...Object.keys(o.fields), ...Object.keys(o.deferred)]) fields.add(f)
              }),
            ),
          ),
        )
        entities.push({
          entity: name,
          target: entity.to.name,
          source: entity.from.source.describe(entity.from.spec),
          count,
          fields: [...fields].sort(),
          incremental: false,
        })
      }
      const report = yield* sink.plan(
        entities.map((e) => ({
          entity: e.entity,
          target: pipeline.entities[e.entity]!.to,
          fields: e.fields,
          count: e.count,
          inOrder: pipeline.entities[e.entity]!.inOrder === true,
        })),
      )
      return { pipeline: pipeline.name, order, entities, sink: report }
    }),
  ).pipe(
    Effect.catchTags({
      SourceError: (e) =>
        Effect.fail(
          new RunError({
            pipeline: pipeline.name,
            message: `${e.source}${e.where ? ` (${e.where})` : ""}: ${e.message}`,
            cause: e,
          }),
        ),
      SinkError: (e) =>
        Effect.fail(new RunError({ pipeline: pipeline.name, message: `${e.sink}: ${e.message}`, cause: e })),
    }),
  )

interface EntityRun {
  readonly name: string
  readonly entity: Pipeline.AnyEntity
  readonly target: Sink.Target
  readonly conn: Source.Connection<unknown>
}

/** What links are still to be made once every entity exists (cycles broken by deferral). */
interface DeferredLink {
  readonly entity: string
  readonly target: Sink.Target
  readonly sourceKey: string
  readonly targetId: string
  readonly fields: Readonly<Record<string, unknown>>
  readonly hash: string
}

/**
 * Runs a pipeline. Fails only when it cannot start (bad definition, lock held by another
 * process, source or sink unreachable); once started it answers a report, whose status says
 * whether it succeeded, finished with dead letters, failed (with the error) or was stopped.
 */
export const run = (
  pipeline: Pipeline.Pipeline,
  options: RunOptions = {},
): Effect.Effect<RunReport, Pipeline.DefinitionError | RunError, StateStore | Progress.Progress> =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* StateStore
      const progress = yield* Progress.Progress
      const order = yield* Pipeline.validate(pipeline)
      const dryRun = options.dryRun ?? false
      const fail = (msg: string, entity?: string, cause?: unknown) =>
        new RunError({ pipeline: pipeline.name, entity, message: msg, cause })
      const storeFailure = (e: StateStoreError) =>
        fail(`state store (${store.location}) failed while ${e.operation}: ${e.message}`, undefined, e)

      for (const name of options.entities ?? []) {
        if (!order.includes(name)) {
          return yield* Effect.fail(fail(`unknown entity "${name}" (entities: ${order.join(", ")})`, name))
        }
      }
      const selected = options.entities ? order.filter((n) => options.entities!.includes(n)) : order

      const lock = dryRun
        ? undefined
        : yield* holdLock(pipeline.name, options.lockLeaseMs ?? 60_000).pipe(
            Effect.mapError((e) => (e._tag === "StateStoreError" ? storeFailure(e) : e)),
          )
      if (lock && options.tick) {
        const [last] = yield* store.recentRuns(pipeline.name, 1).pipe(Effect.mapError(storeFailure))
        if (last !== undefined && last.startedAt.getTime() >= options.tick.getTime()) {
          return yield* Effect.fail(
            new RunError({
              pipeline: pipeline.name,
              alreadyRan: true,
              message: `the run due at ${options.tick.toISOString()} was already made (run ${last.id}, started ${last.startedAt.toISOString()})`,
            }),
          )
        }
      }

      if (lock) {
        // We hold the lock, so a run still marked `running` belongs to a process that died.
        const abandoned = yield* store.abandonRuns(pipeline.name).pipe(Effect.mapError(storeFailure))
        if (abandoned > 0) {
          yield* progress.note(`an earlier run stopped without finishing; resuming where it left off`)
        }
      }

      const sources = yield* connectSources(pipeline, selected).pipe(
        Effect.mapError((e) =>
          fail(`cannot read source ${e.source}${e.where ? ` (${e.where})` : ""}: ${e.message}`, undefined, e),
        ),
      )
      const sink = yield* pipeline.sink
        .connect({ originator: Pipeline.originator(pipeline), dryRun, credentials: credentialsOf(store) })
        .pipe(Effect.mapError((e) => fail(`cannot connect to ${e.sink}: ${e.message}`, undefined, e)))

      const runRow = dryRun
        ? { id: `dry-run-${yield* Clock.currentTimeMillis}` }
        : yield* store.startRun(pipeline.name).pipe(Effect.mapError(storeFailure))
      const startedAt = yield* Clock.currentTimeMillis
      const reports: Array<EntityReport> = []
      const deferredLinks: Array<DeferredLink> = []
      // Records this run left out on purpose, so a dependant's dead letter can say why its link is missing.
      const skippedKeys = new Map<string, "deleted" | "filtered">()
      // Ids created in a dry run exist nowhere else; references between dry-run records use them.
      const dryRunIds = new Map<string, string>()
      // Set once a stop is requested; reading halts, in-flight batches finish and commit.
      const stopping = yield* Deferred.make<void>()
      if (options.stop)
        yield* options.stop.pipe(Effect.zipRight(Deferred.succeed(stopping, undefined)), Effect.forkScoped)
      // Losing the lock (another process took it after our lease ran out) stops the run the same way.
      let lockLost: string | undefined
      if (lock) {
        yield* lock.lost.pipe(
          Effect.catchAll((e) => Effect.sync(() => (lockLost = e.message))),
          Effect.zipRight(Deferred.succeed(stopping, undefined)),
          Effect.forkScoped,
        )
      }
      const stopSignal = Deferred.await(stopping)
      const isStopping = Deferred.isDone(stopping)

      // Numbers the batches of the run, for their batch ids.
      let batchSeq = 0
      const sendPermits = yield* Effect.makeSemaphore(Math.max(1, sink.concurrency))

      const runEntity = (er: EntityRun) =>
        Effect.gen(function* () {
          const entityStart = yield* Clock.currentTimeMillis
          const counters = yield* Ref.make(Progress.emptyCounters)
          const bump = (delta: Partial<Progress.Counters>) =>
            Ref.update(counters, (c) => Progress.add(c, delta)).pipe(
              Effect.zipRight(progress.advance(er.name, delta)),
            )

          if (!dryRun) yield* reconcilePending(er)

          const deadKeys = new Set(
            (yield* store.deadLetters(pipeline.name, { entity: er.name, limit: 1_000_000_000 })).map(
              (d) => d.sourceKey,
            ),
          )
          const after =
            options.onlyDeadLetters || options.limit !== undefined
              ? undefined
              : Option.getOrUndefined(yield* store.checkpoint(pipeline.name, er.name))
          const request = { after, limit: options.limit }
          const total =
            er.conn.count && !options.onlyDeadLetters
              ? yield* er.conn
                  .count(er.entity.from.spec, request)
                  .pipe(Effect.option, Effect.map(Option.getOrUndefined))
              : undefined
          yield* progress.start(er.name, total)

          const preparer = prepare(pipeline.name, er.name, er.entity)
          const chunkSize = options.chunkSize ?? pipeline.options?.bufferSize ?? 500

          yield* er.conn.read(er.entity.from.spec, request).pipe(
            Stream.haltWhen(stopSignal),
            options.onlyDeadLetters ? Stream.filter((r) => deadKeys.has(r.key)) : (s) => s,
            Stream.grouped(chunkSize),
            // Records are prepared one chunk after another, in read order, as steps may expect.
            Stream.mapEffect((chunk) => preparer.chunk(Chunk.toReadonlyArray(chunk))),
            Stream.mapEffect((outcomes) => writeChunk(er, outcomes, deadKeys, bump), {
              // In order: one chunk at a time, so no batch of a later chunk overtakes this one's.
              concurrency: er.entity.inOrder === true ? 1 : 2,
            }),
            // Chunks complete in read order here, so a checkpoint never passes a record that is not committed.
            Stream.runForEach((position) =>
              position === undefined || dryRun
                ? Effect.void
                : store.commit({
                    pipeline: pipeline.name,
                    entity: er.name,
                    created: [],
                    checkpoint: position,
                  }),
            ),
          )
          yield* progress.finish(er.name)
          const c = yield* Ref.get(counters)
          reports.push({
            entity: er.name,
            target: er.target.name,
            ...c,
            durationMs: (yield* Clock.currentTimeMillis) - entityStart,
          })
        })

      /** Finds what an interrupted run may have created before sending anything again. */
      const reconcilePending = (er: EntityRun) =>
        Effect.gen(function* () {
          const pending = yield* store.pending(pipeline.name, er.name)
          if (pending.length === 0) return
          yield* progress.note(
            `${er.name}: checking ${pending.length} records an earlier run left unconfirmed`,
          )
          for (let i = 0; i < pending.length; i += sink.batchSize * 5) {
            const slice = pending.slice(i, i + sink.batchSize * 5)
            const found = yield* sendPermits.withPermits(1)(
              sink.find(
                er.target,
                slice.map((p) => ({
                  sourceKey: p.sourceKey,
                  originId: originId(er.name, p.sourceKey),
                  fields: {},
                })),
              ),
            )
            const created = slice.flatMap((p) => {
              const id = found.get(originId(er.name, p.sourceKey))
              return id === undefined
                ? []
                : [
                    {
                      sourceKey: p.sourceKey,
                      targetType: p.targetType,
                      targetId: id,
                      payloadHash: p.payloadHash,
                      batchId: p.batchId,
                    },
                  ]
            })
            const released = slice
              .filter((p) => !found.has(originId(er.name, p.sourceKey)))
              .map((p) => p.sourceKey)
            yield* store.commit({ pipeline: pipeline.name, entity: er.name, created, released })
          }
        })

      /**
       * One chunk: classify against the id map, resolve references, send creates and updates in
       * the sink's batch sizes with several in flight, commit each batch. Answers the chunk's last
       * position, for the checkpoint.
       */
      const writeChunk = (
        er: EntityRun,
        outcomes: ReadonlyArray<Outcome>,
        deadKeys: ReadonlySet<string>,
        bump: (delta: Partial<Progress.Counters>) => Effect.Effect<void>,
      ) =>
        Effect.gen(function* () {
          yield* bump({ read: outcomes.length })
          const deadLetters: Array<DeadLetterInput> = []
          const prepared: Array<Prepared> = []
          let skipped = 0
          for (const o of outcomes) {
            if (o._tag === "Failed") deadLetters.push(o.deadLetter)
            else if (o._tag === "Skipped") {
              skipped++
              skippedKeys.set(`${er.name}\u0000${o.key}`, "filtered")
            } else prepared.push(o)
          }
          // The same key twice in a chunk would be created twice: keep the last, like an upsert.
          const byKey = new Map(prepared.map((p) => [p.key, p]))
          const unique = [...byKey.values()]
          const existing = yield* store.lookup(
            pipeline.name,
            er.name,
            unique.map((p) => p.key),
          )

          const creates: Array<Prepared> = []
          const updates: Array<{ p: Prepared; targetId: string }> = []
          const unchanged: Array<Prepared> = []
          for (const p of unique) {
            const row = existing.get(p.key)
            const exists = row?.status === "created" && row.targetId !== null
            if (p.deleted !== false) {
              // Deleted in the source: never created; an existing item gets the policy's update once.
              if (exists && p.deleted === "update" && row.payloadHash !== p.hash)
                updates.push({ p, targetId: row.targetId! })
              else if (exists) unchanged.push(p)
              else {
                skipped++
                skippedKeys.set(`${er.name}\u0000${p.key}`, "deleted")
              }
            } else if (exists) {
              if (row.payloadHash === p.hash) unchanged.push(p)
              else updates.push({ p, targetId: row.targetId! })
            } else creates.push(p)
          }

          // Resolve every reference of the chunk with one lookup.
          const wanted = new Map<string, Set<string>>()
          for (const p of [...creates, ...updates.map((u) => u.p)]) {
            for (const r of Reference.collect({ ...p.fields, ...p.deferred })) {
              if (!wanted.has(r.entity)) wanted.set(r.entity, new Set())
              wanted.get(r.entity)!.add(r.key)
            }
          }
          const ids = new Map<string, string>()
          const pendingRefs = new Set<string>()
          if (wanted.size > 0) {
            const rows = yield* store.lookupMany(
              pipeline.name,
              [...wanted].map(([entity, keys]) => ({ entity, keys: [...keys] })),
            )
            for (const row of rows)
              if (row.status === "created" && row.targetId !== null)
                ids.set(`${row.entity}\u0000${row.sourceKey}`, row.targetId)
              else if (row.status === "pending") pendingRefs.add(`${row.entity}\u0000${row.sourceKey}`)
          }
          const lookupRef = (r: Reference.Reference) =>
            ids.get(`${r.entity}\u0000${r.key}`) ?? dryRunIds.get(`${r.entity}\u0000${r.key}`)

          type Unresolved = ReadonlyArray<Reference.Reference & { field: string }>
          const createItems: Array<{ p: Prepared; fields: Record<string, unknown> }> = []
          const updateItems: Array<{ p: Prepared; targetId: string; fields: Record<string, unknown> }> = []
          const broken: Array<{ p: Prepared; unresolved: Unresolved }> = []
          for (const p of creates) {
            const { fields, unresolved } = Reference.resolve(p.fields, lookupRef)
            if (unresolved.length > 0) broken.push({ p, unresolved })
            else createItems.push({ p, fields })
          }
          for (const u of updates) {
            const { fields, unresolved } = Reference.resolve({ ...u.p.fields, ...u.p.deferred }, lookupRef)
            if (unresolved.length > 0) broken.push({ p: u.p, unresolved })
            else updateItems.push({ ...u, fields })
          }
          if (broken.length > 0) {
            // Say why each reference failed: the parent's own dead letter is the usual answer.
            const missing = new Map<string, Set<string>>()
            for (const b of broken)
              for (const u of b.unresolved) {
                if (!missing.has(u.entity)) missing.set(u.entity, new Set())
                missing.get(u.entity)!.add(u.key)
              }
            const letters = yield* store.lookupDeadLetters(
              pipeline.name,
              [...missing].map(([entity, keys]) => ({ entity, keys: [...keys] })),
            )
            const parentLetters = new Map(letters.map((d) => [`${d.entity}\u0000${d.sourceKey}`, d]))
            for (const b of broken)
              deadLetters.push({
                entity: er.name,
                sourceKey: b.p.key,
                stage: "reference",
                code: UNRESOLVED,
                message: b.unresolved
                  .map(
                    (u) =>
                      `${u.field} -> ${u.entity} ${u.key}: ${whyUnresolved(u, parentLetters, pendingRefs, skippedKeys)}`,
                  )
                  .join("; "),
                payload: toJson(b.p.data),
              })
          }

          const recovered = (keys: ReadonlyArray<string>) => keys.filter((k) => deadKeys.has(k))
          const commit = (batch: Omit<Parameters<typeof store.commit>[0], "pipeline" | "entity">) =>
            dryRun ? Effect.void : store.commit({ pipeline: pipeline.name, entity: er.name, ...batch })

          // Dead letters of the chunk (decode, map, references) and the unchanged records first.
          if (deadLetters.length > 0 || unchanged.length > 0) {
            yield* commit({ created: [], deadLetters, recovered: recovered(unchanged.map((u) => u.key)) })
          }
          yield* bump({ failed: deadLetters.length, skipped, unchanged: unchanged.length })

          const sendCreates = (
            batch: ReadonlyArray<{ p: Prepared; fields: Record<string, unknown> }>,
            seq: number,
          ) =>
            Effect.gen(function* () {
              const batchId = `${runRow.id}:${er.name}:${seq}`
              const items: Array<Sink.SinkItem> = batch.map((b) => ({
                sourceKey: b.p.key,
                originId: originId(er.name, b.p.key),
                fields: b.fields,
              }))
              if (!dryRun) {
                yield* store.markPending(
                  pipeline.name,
                  er.name,
                  batchId,
                  batch.map((b) => ({
                    sourceKey: b.p.key,
                    targetType: er.target.name,
                    payloadHash: b.p.createHash,
                  })),
                )
              }
              const results = yield* createWithRecovery(er, items)
              const created: Array<{
                sourceKey: string
                targetType: string
                targetId: string
                payloadHash: string
                batchId: string
              }> = []
              const rejected: Array<DeadLetterInput> = []
              batch.forEach((b, i) => {
                const r = results[i]
                if (r === undefined || r._tag === "Rejected") {
                  rejected.push(rejection(er.name, b.p, "write", r))
                } else {
                  created.push({
                    sourceKey: b.p.key,
                    targetType: er.target.name,
                    targetId: r.targetId,
                    payloadHash: b.p.createHash,
                    batchId,
                  })
                  if (dryRun) dryRunIds.set(`${er.name}\u0000${b.p.key}`, r.targetId)
                  if (Object.keys(b.p.deferred).length > 0) {
                    deferredLinks.push({
                      entity: er.name,
                      target: er.target,
                      sourceKey: b.p.key,
                      targetId: r.targetId,
                      fields: b.p.deferred,
                      hash: b.p.hash,
                    })
                  }
                }
              })
              yield* commit({
                created,
                released: rejected.map((r) => r.sourceKey),
                deadLetters: rejected,
                recovered: recovered(created.map((c) => c.sourceKey)),
              })
              yield* bump({ created: created.length, failed: rejected.length })
            })

          const sendUpdates = (
            batch: ReadonlyArray<{ p: Prepared; targetId: string; fields: Record<string, unknown> }>,
          ) =>
            Effect.gen(function* () {
              const results = yield* sendPermits.withPermits(1)(
                sink.update(
                  er.target,
                  batch.map((b) => ({ sourceKey: b.p.key, targetId: b.targetId, fields: b.fields })),
                ),
              )
              const written: Array<{
                sourceKey: string
                targetType: string
                targetId: string
                payloadHash: string
                batchId: string | null
              }> = []
              const rejected: Array<DeadLetterInput> = []
              batch.forEach((b, i) => {
                const r = results[i]
                if (r === undefined || r._tag === "Rejected") {
                  rejected.push(rejection(er.name, b.p, "update", r))
                } else {
                  written.push({
                    sourceKey: b.p.key,
                    targetType: er.target.name,
                    targetId: b.targetId,
                    payloadHash: b.p.hash,
                    batchId: null,
                  })
                }
              })
              yield* commit({
                created: written,
                deadLetters: rejected,
                recovered: recovered(written.map((w) => w.sourceKey)),
              })
              yield* bump({ updated: written.length, failed: rejected.length })
            })

          const createBatches = chunked(createItems, sink.batchSize)
          const updateBatches = chunked(updateItems, sink.updateBatchSize)
          yield* Effect.all(
            [
              Effect.forEach(createBatches, (b) => Effect.suspend(() => sendCreates(b, batchSeq++)), {
                concurrency: er.entity.inOrder === true ? 1 : "unbounded",
                discard: true,
              }),
              Effect.forEach(updateBatches, sendUpdates, { concurrency: "unbounded", discard: true }),
            ],
            { concurrency: "unbounded", discard: true },
          )
          const last = outcomes[outcomes.length - 1]
          return last?.position
        }).pipe(
          Effect.mapError((e) =>
            e._tag === "StateStoreError"
              ? storeFailure(e)
              : e._tag === "SinkError"
                ? sinkFailure(e, er.name)
                : e,
          ),
        )

      const sinkFailure = (e: Sink.SinkError, entity: string) =>
        fail(
          `${e.sink} ${e.reason === "fatal" ? "refused" : "failed"}${e.code ? ` (${e.code})` : ""}: ${e.message}`,
          entity,
          e,
        )

      /**
       * Sends a batch; when the call failed in a way that may have created items, finds them first
       * and sends only the rest again.
       */
      const createWithRecovery = (er: EntityRun, items: ReadonlyArray<Sink.SinkItem>) =>
        Effect.gen(function* () {
          const results: Array<Sink.ItemResult | undefined> = items.map(() => undefined)
          let remaining = items.map((item, index) => ({ item, index }))
          for (let attempt = 1; ; attempt++) {
            const answer = yield* Effect.either(
              sendPermits.withPermits(1)(
                sink.create(
                  er.target,
                  remaining.map((r) => r.item),
                ),
              ),
            )
            if (answer._tag === "Right") {
              remaining.forEach((r, i) => {
                results[r.index] = answer.right[i]
              })
              return results
            }
            const error = answer.left
            if (error.reason === "fatal" || attempt >= MAX_WRITE_ATTEMPTS) return yield* Effect.fail(error)
            yield* progress.note(
              `${er.name}: ${error.message}; checking what was created before sending again`,
            )
            const found = yield* sendPermits.withPermits(1)(
              sink.find(
                er.target,
                remaining.map((r) => r.item),
              ),
            )
            remaining = remaining.filter((r) => {
              const id = found.get(r.item.originId)
              if (id !== undefined) results[r.index] = { _tag: "Written", targetId: id }
              return id === undefined
            })
            if (remaining.length === 0) return results
          }
        })

      /** Makes the links held back to break reference cycles, now that both sides exist. */
      const linkDeferred = Effect.gen(function* () {
        if (deferredLinks.length === 0) return
        yield* progress.note(`linking ${deferredLinks.length} records whose references closed a cycle`)
        const byEntity = new Map<string, Array<DeferredLink>>()
        for (const l of deferredLinks) byEntity.set(l.entity, [...(byEntity.get(l.entity) ?? []), l])
        for (const [entity, links] of byEntity) {
          for (const batch of chunked(links, sink.updateBatchSize)) {
            const wanted = new Map<string, Set<string>>()
            for (const l of batch)
              for (const r of Reference.collect(l.fields)) {
                if (!wanted.has(r.entity)) wanted.set(r.entity, new Set())
                wanted.get(r.entity)!.add(r.key)
              }
            const rows = yield* store.lookupMany(
              pipeline.name,
              [...wanted].map(([e, keys]) => ({ entity: e, keys: [...keys] })),
            )
            const ids = new Map(
              rows
                .filter((r) => r.targetId !== null)
                .map((r) => [`${r.entity}\u0000${r.sourceKey}`, r.targetId!]),
            )
            const resolved = batch.map((l) => ({
              l,
              ...Reference.resolve(
                l.fields,
                (r) => ids.get(`${r.entity}\u0000${r.key}`) ?? dryRunIds.get(`${r.entity}\u0000${r.key}`),
              ),
            }))
            const ready = resolved.filter((r) => r.unresolved.length === 0)
            const results =
              ready.length === 0
                ? []
                : yield* sendPermits.withPermits(1)(
                    sink.update(
                      batch[0]!.target,
                      ready.map((r) => ({
                        sourceKey: r.l.sourceKey,
                        targetId: r.l.targetId,
                        fields: r.fields,
                      })),
                    ),
                  )
            const linked = ready.filter((_, i) => results[i]?._tag === "Written")
            if (!dryRun) {
              yield* store.commit({
                pipeline: pipeline.name,
                entity,
                created: linked.map((r) => ({
                  sourceKey: r.l.sourceKey,
                  targetType: r.l.target.name,
                  targetId: r.l.targetId,
                  payloadHash: r.l.hash,
                  batchId: null,
                })),
                deadLetters: [
                  ...resolved
                    .filter((r) => r.unresolved.length > 0)
                    .map((r) => ({
                      entity,
                      sourceKey: r.l.sourceKey,
                      stage: "link",
                      code: UNRESOLVED,
                      message: r.unresolved
                        .map((u) => `${u.field} -> ${u.entity} ${u.key} is not in the target`)
                        .join("; "),
                      payload: toJson(r.l.fields),
                    })),
                  ...ready.flatMap((r, i) => {
                    const res = results[i]
                    return res?._tag === "Rejected"
                      ? [
                          {
                            entity,
                            sourceKey: r.l.sourceKey,
                            stage: "link",
                            code: res.code,
                            message: res.message,
                            payload: toJson(r.l.fields),
                          },
                        ]
                      : []
                  }),
                ],
              })
            }
          }
        }
      })

      const outcome = yield* Effect.either(
        Effect.gen(function* () {
          for (const name of selected) {
            if (yield* isStopping) break
            const entity = pipeline.entities[name]!
            yield* runEntity({ name, entity, target: entity.to, conn: sources.get(entity.from.source)! })
          }
          if (!(yield* isStopping)) yield* linkDeferred
        }).pipe(
          Effect.mapError((e) =>
            e._tag === "StateStoreError"
              ? storeFailure(e)
              : e._tag === "SinkError"
                ? sinkFailure(e, "")
                : e._tag === "SourceError"
                  ? fail(`source ${e.source}${e.where ? ` (${e.where})` : ""}: ${e.message}`, undefined, e)
                  : e,
          ),
        ),
      )
      const deadLetters = dryRun
        ? reports.reduce((n, r) => n + r.failed, 0)
        : yield* store.deadLetterCount(pipeline.name).pipe(Effect.orElseSucceed(() => 0))
      const wasStopped = yield* isStopping
      const status =
        outcome._tag === "Left" || lockLost !== undefined
          ? "failed"
          : wasStopped
            ? "interrupted"
            : deadLetters > 0
              ? "partial"
              : "succeeded"
      const report: RunReport = {
        pipeline: pipeline.name,
        runId: runRow.id,
        status,
        dryRun,
        entities: reports,
        deadLetters,
        durationMs: (yield* Clock.currentTimeMillis) - startedAt,
        stateLocation: store.location,
        error: outcome._tag === "Left" ? message(outcome.left) : lockLost,
      }
      if (!dryRun) {
        yield* store
          .finishRun(runRow.id, status, toJson({ entities: reports, error: report.error }) as Json)
          .pipe(Effect.ignore)
      }
      return report
    }),
  )

/** The dead letter of a record the target refused (or answered nothing for). */
const rejection = (
  entity: string,
  p: Prepared,
  stage: "write" | "update",
  result: Sink.ItemResult | undefined,
): DeadLetterInput =>
  result?._tag === "Rejected"
    ? {
        entity,
        sourceKey: p.key,
        stage,
        code: result.code,
        message: `${result.field ? `${result.field}: ` : ""}${result.message}`,
        payload: toJson(p.data),
      }
    : {
        entity,
        sourceKey: p.key,
        stage,
        code: "NO_RESULT",
        message: "the target answered no result for this item",
        payload: toJson(p.data),
      }

/** The identity a record carries in the target, stable across runs: `company:42`. */
export const originId = (entity: string, key: string): string => `${entity}:${key}`

const chunked = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Holds the pipeline's lock for the rest of the scope, renewing it; fails when another process holds it. */
const holdLock = (pipeline: string, leaseMs: number) =>
  Lock.acquire(`pipeline:${pipeline}`, { leaseMs }).pipe(
    Effect.catchTag("LockError", (e) =>
      Effect.fail(
        new RunError({
          pipeline,
          locked: true,
          message: `another process is running pipeline "${pipeline}" (${e.message}); wait for it to finish, or for its lease (${leaseMs} ms) to run out if it died`,
        }),
      ),
    ),
  )
