import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Json } from "./Json.js"
import type { SourceKey } from "./SourceKey.js"

/**
 * The source contract, version 1. A source only reads: the runner owns the loop, the state and
 * the checkpoints. A source connects once per run (inside a `Scope`, so pools close even on
 * interrupt) and then serves any number of streams.
 *
 * Like a Kysely dialect, the contract is small and versioned: a source states the version it
 * implements, and fields added in later versions are optional with documented defaults.
 */
export const version = 1 as const

/** One record read from a source. */
export interface SourceRecord {
  /** The record's legacy key (see `SourceKey.make`), unique within its stream. */
  readonly key: SourceKey
  /**
   * Where this record stands in an incremental read: give it back as `after` to read what
   * follows. Opaque to the runner (any JSON), absent when the stream is not incremental.
   */
  readonly position?: Json | undefined
  /**
   * The record's own cursor value as read (a `Date`, a date text, `"infinity"`, a number), absent
   * when the stream is not incremental. The runner keeps the checkpoint from passing a cursor in
   * the future, so one far-future row cannot hide every later change. Optional: a source that
   * leaves it out gets no such guard.
   */
  readonly cursor?: unknown
  /** The record's columns or properties, values already mapped to JavaScript. */
  readonly data: Readonly<Record<string, unknown>>
}

/** What to read from a stream. */
export interface ReadRequest {
  /** Read only records after this position (an incremental run resuming from its checkpoint). */
  readonly after?: Json | undefined
  /** Read at most this many records. */
  readonly limit?: number | undefined
}

/** A connected source, serving the streams of one kind of `Spec` (a table, a query, an endpoint). */
export interface Connection<Spec> {
  /**
   * Where the source is, without secrets: `db.internal:5432/crm`, `https://shop.example.com`. A
   * pipeline's state remembers it, and a run against another location stops until the change is
   * confirmed. Optional (added after version 1): absent, a change of source goes unnoticed.
   */
  readonly location?: string | undefined
  /**
   * Answers once the source has answered one trivial request (SQL `SELECT 1`, one cheap HTTP
   * request), failing within seconds with what and where when it cannot be reached or refuses
   * the credentials. The runner calls it before a run reads anything, so an unreachable source
   * stops the run at once. Optional (added after version 1): absent, the first read tells.
   */
  readonly ping?: Effect.Effect<void, SourceError> | undefined
  /** Fails with a clear message when the source cannot be read (bad URL, auth, missing table). */
  readonly check: (spec: Spec) => Effect.Effect<void, SourceError>
  /** Records in a stable order (key, or cursor then key), in chunks, never all in memory. */
  readonly read: (spec: Spec, request: ReadRequest) => Stream.Stream<SourceRecord, SourceError>
  /** How many records `read` would return, when the source can tell cheaply. */
  readonly count?: ((spec: Spec, request: ReadRequest) => Effect.Effect<number, SourceError>) | undefined
}

/** A source definition: a value in a pipeline, connected when a run starts. */
export interface Source<Spec> {
  readonly version: typeof version
  /** The kind of source, e.g. `postgres`, `mysql`, `rest`, `memory`. */
  readonly kind: string
  /** A name for messages and for `originatorId` defaults, e.g. `legacy-crm`. */
  readonly name: string
  /** Says what a spec reads, for messages and plans: `table companies`. */
  readonly describe: (spec: Spec) => string
  readonly connect: Effect.Effect<Connection<Spec>, SourceError, Scope.Scope>
}

/**
 * A stream bound to its source: what an entity reads. Sources build these
 * (`legacy.table("companies", { key: "id" })`), so one pipeline can read several sources.
 */
export interface SourceStream<Row = Readonly<Record<string, unknown>>> {
  readonly source: Source<unknown>
  readonly spec: unknown
  /** Phantom: the row type the stream yields before decoding. */
  readonly _Row?: (_: never) => Row
}

/** Binds a spec to its source. */
export const stream = <Spec, Row = Readonly<Record<string, unknown>>>(
  source: Source<Spec>,
  spec: Spec,
): SourceStream<Row> => ({ source: source as Source<unknown>, spec })

/** A source could not be read. `where` names the source and stream (never a password). */
export class SourceError extends Data.TaggedError("SourceError")<{
  readonly source: string
  readonly where?: string | undefined
  readonly message: string
  readonly cause?: unknown
}> {}
