import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { RateBuckets } from "./RateBuckets.js"
import type { SourceKey } from "./SourceKey.js"
import type { StateStoreError } from "./StateStore.js"

/**
 * The sink contract, version 1. The runner owns ordering, batching, reference resolution, the id
 * map and the exactly-once protocol; a sink only knows how to talk to its target system:
 * create a batch, update a batch, delete a batch (optional), find what an interrupted call may
 * have created, and check a plan before anything is written.
 */
export const version = 1 as const

/** Where an entity's records go in the target system (e.g. Bitrix24 deals, entityTypeId 2). */
export interface Target<Fields = Readonly<Record<string, unknown>>> {
  /** The sink kind this target belongs to, e.g. `bitrix24`. */
  readonly sink: string
  /** The target's name for messages and the id map, e.g. `deal`, `spa:1030`. */
  readonly name: string
  /** Phantom: the fields a mapping for this target returns. */
  readonly _Fields?: (_: never) => Fields
}

/** One record ready to send: references already replaced by target ids. */
export interface SinkItem {
  readonly sourceKey: SourceKey
  /**
   * The record's identity in the target system, stable across runs (`company:42`). The sink
   * stores it with the item (Bitrix24: `originId` / `xmlId`) so `find` can tell later whether an
   * interrupted call created it.
   */
  readonly originId: string
  readonly fields: Readonly<Record<string, unknown>>
}

/** An update of an item that exists in the target system. */
export interface SinkUpdate {
  readonly sourceKey: SourceKey
  readonly targetId: string
  readonly fields: Readonly<Record<string, unknown>>
}

/** A deletion of an item that exists in the target system. */
export interface SinkDelete {
  readonly sourceKey: SourceKey
  readonly targetId: string
}

/** The outcome of one item of a batch, index-aligned with the batch. */
export type ItemResult =
  | { readonly _tag: "Written"; readonly targetId: string }
  | {
      readonly _tag: "Rejected"
      /** The target system's error code, e.g. `CRM_FIELD_ERROR_VALUE_NOT_VALID`. */
      readonly code: string
      readonly message: string
      readonly field?: string | undefined
    }

export const written = (targetId: string): ItemResult => ({ _tag: "Written", targetId })
export const rejected = (code: string, message: string, field?: string): ItemResult => ({
  _tag: "Rejected",
  code,
  message,
  field,
})

/** What the runner asks a sink to check before a run: an entity, its target and the fields it maps. */
export interface PlanEntity<T extends Target = Target> {
  readonly entity: string
  readonly target: T
  /** Field names the mapping produced on a sample of records. */
  readonly fields: ReadonlyArray<string>
  /**
   * Records to create: given the state, those not in the target yet; without it, every record
   * the source will deliver, when it can count.
   */
  readonly count?: number | undefined
  /**
   * Items to update (or delete), when the runner knows them from the state. Optional (added
   * after version 1): absent, the estimate covers creates only.
   */
  readonly updates?: number | undefined
  /** Whether the runner creates this entity's records in read order, one batch at a time. */
  readonly inOrder?: boolean | undefined
}

/** A problem with a planned entity: an unknown field, a target that does not exist. */
export interface PlanProblem {
  readonly entity: string
  readonly field?: string | undefined
  readonly message: string
}

export interface PlanReport {
  readonly problems: ReadonlyArray<PlanProblem>
  /** Time the sink needs for the counted records at its configured rate, when it can tell. */
  readonly estimate?: Duration.Duration | undefined
  /** Human-readable facts about the target (rate, portal), one per line. */
  readonly notes: ReadonlyArray<string>
}

/** An item the pipeline's originator owns in the target: its origin id (`company:42`) and target id. */
export interface OwnedItem {
  readonly originId: string
  readonly targetId: string
}

/**
 * An owned item with its values as the target holds them, named and shaped as a mapping writes
 * them (`title`, `companyId`, `contactIds`, Bitrix24 multi-fields as `PHONE: [{ VALUE, VALUE_TYPE }]`),
 * so `verify` can compare them with what the mapping makes of the source record today.
 */
export interface OwnedValues extends OwnedItem {
  readonly fields: Readonly<Record<string, unknown>>
}

/** What reading a target's owned items costs, before it starts: requests, and the time at the sink's rate. */
export interface ReadCost {
  readonly requests: number
  readonly duration: Duration.Duration
  /** How the sink reads, for the message (`crm.item.list, 50 items a page, 2 requests/s`). */
  readonly how: string
}

export interface Connection<T extends Target = Target> {
  /**
   * What this connection writes to, without secrets: the system, and the account or app that
   * writes (`bitrix24 https://acme.bitrix24.com (webhook user 1)`). A pipeline's state is bound to
   * it: a run against another identity stops before it writes. Optional (added after version 1):
   * absent, the sink's `kind` and `name` stand for it.
   */
  readonly identity?: string | undefined
  /** Largest batch `create` accepts (Bitrix24 `crm.item.batchImport`: 20). */
  readonly batchSize: number
  /** Largest batch `update` accepts (Bitrix24 `batch`: 50). */
  readonly updateBatchSize: number
  /** Batches the runner keeps in flight at once. */
  readonly concurrency: number
  /**
   * The pre-flight call before a run reads anything: one cheap authenticated request, failing
   * within seconds when the target cannot be reached or refuses the credentials (those `fatal`,
   * never retried), so a run stops before anything is pending.
   */
  readonly check: Effect.Effect<void, SinkError>
  readonly plan: (entities: ReadonlyArray<PlanEntity<T>>) => Effect.Effect<PlanReport, SinkError>
  /**
   * Optional: told at the start of a run that creates of `target` are likely (its entity's id map
   * is empty), so that what the sink must ask before its first create (Bitrix24: whether imports
   * can be packed) is asked while the run does other work, not in front of the first create. Never
   * called in a dry run.
   */
  readonly readyToCreate?: ((target: T) => Effect.Effect<void>) | undefined
  /** Creates the items; the answer is index-aligned with `items`. */
  readonly create: (
    target: T,
    items: ReadonlyArray<SinkItem>,
  ) => Effect.Effect<ReadonlyArray<ItemResult>, SinkError>
  /** Updates the items; the answer is index-aligned with `items`. */
  readonly update: (
    target: T,
    items: ReadonlyArray<SinkUpdate>,
  ) => Effect.Effect<ReadonlyArray<ItemResult>, SinkError>
  /**
   * Deletes the items; the answer is index-aligned with `items`. An item the target system no
   * longer has counts as deleted (`Written` with its id), so a deletion may be sent again after
   * an interrupted call. Optional: a sink without it cannot apply a `delete` policy.
   */
  readonly delete?:
    | ((target: T, items: ReadonlyArray<SinkDelete>) => Effect.Effect<ReadonlyArray<ItemResult>, SinkError>)
    | undefined
  /**
   * Finds items an earlier, interrupted `create` may have made, by their `originId`.
   * Answers originId -> target id for the ones that exist.
   */
  readonly find: (
    target: T,
    items: ReadonlyArray<SinkItem>,
  ) => Effect.Effect<ReadonlyMap<string, string>, SinkError>
  /**
   * Every item of `target` that carries this connection's originator, in pages as the stream is
   * pulled (so its first element costs one request): what `relink` rebuilds an id map from, and
   * how a run with an empty id map finds items to adopt instead of creating them again. An origin
   * id may come more than once (duplicates made by an earlier tool). Optional (added after
   * version 1): without it a pipeline cannot relink or adopt.
   */
  readonly listOwned?: ((target: T) => Stream.Stream<OwnedItem, SinkError>) | undefined
  /**
   * Like `listOwned`, with each item's values of these `fields` (names a mapping writes): what
   * `verify` compares with the source. Read only, through the sink's rate limiter. Optional
   * (added after version 1): without it a pipeline cannot be verified.
   */
  readonly readOwned?:
    | ((target: T, fields: ReadonlyArray<string>) => Stream.Stream<OwnedValues, SinkError>)
    | undefined
  /**
   * What `readOwned` costs for about these numbers of items, one number per target read
   * (requests at the sink's rate, after what its burst allows). Optional, with `readOwned`.
   */
  readonly readCost?: ((itemsPerTarget: ReadonlyArray<number>) => ReadCost) | undefined
  /**
   * What the target holds once these fields (references replaced by ids) are written, for
   * `verify`: values the target derives as it shows them (Bitrix24: an empty primary contact
   * next to a list of contacts is the list's first), and which fields are links. Optional:
   * without it the fields are compared as mapped and the links are the fields holding references.
   */
  readonly expected?:
    | ((
        target: T,
        fields: Readonly<Record<string, unknown>>,
      ) => { readonly fields: Readonly<Record<string, unknown>>; readonly links: ReadonlySet<string> })
    | undefined
}

/** A sink definition: a value in a pipeline, connected when a run starts. */
export interface Sink<T extends Target = Target> {
  readonly version: typeof version
  /** e.g. `bitrix24` */
  readonly kind: string
  /** Names the portal or system for messages, without secrets. */
  readonly name: string
  /**
   * Connects for a run. `originator` is the pipeline's source name, stored with every created
   * item (Bitrix24 `originatorId`) so `find` only sees this pipeline's items.
   */
  readonly connect: (options: {
    readonly originator: string
    readonly dryRun: boolean
    /** Where to keep credentials that rotate; given by the runner (the pipeline's state store). */
    readonly credentials?: Credentials | undefined
    /**
     * Rate buckets shared with every other process on the state store (PostgreSQL), given by the
     * runner: a sink limits its requests to a target through them instead of within the process.
     * Optional (added after version 1).
     */
    readonly rateBuckets?: RateBuckets | undefined
  }) => Effect.Effect<Connection<T>, SinkError, Scope.Scope>
}

/**
 * Credentials a sink keeps between runs because they rotate: an OAuth refresh token works
 * once, so the next run must start from the one the last refresh returned, whichever process
 * made it. Values are opaque to the store; a sink encrypts what it keeps.
 */
export interface Credentials {
  readonly load: (name: string) => Effect.Effect<Option.Option<string>, StateStoreError>
  readonly save: (name: string, value: string) => Effect.Effect<void, StateStoreError>
}

/**
 * A sink call failed as a whole. `reason` tells the runner what to do:
 * - `fatal`: stop the run (bad credentials, missing permission, manual block); nothing to retry;
 * - `unavailable`: the target refused the call before doing anything, after the sink's own
 *   retries; the items were not written and may be sent again later;
 * - `ambiguous`: the call may or may not have been applied (timeout, connection reset): the
 *   runner must `find` the items before sending them again.
 */
export class SinkError extends Data.TaggedError("SinkError")<{
  readonly sink: string
  readonly reason: "fatal" | "unavailable" | "ambiguous"
  readonly code?: string | undefined
  readonly message: string
  readonly cause?: unknown
}> {}
