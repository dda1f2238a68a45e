/**
 * The Bitrix24 sink's connection for one run: what the runner calls to write.
 *
 * - `create`: `crm.item.batchImport`, 20 items per command, every item stamped with its identity
 *   (`originatorId` + `originId`, or `xmlId`); per-item errors come back as `Rejected`
 *   (`internal/connection/imports.ts`). With packing (default, once a probe confirms the portal
 *   takes it) the runner hands up to 1,000 items and several commands go in one `batch`
 *   (`internal/connection/packedImports.ts`).
 * - `update`: `batch` of up to 50 `crm.item.update` commands per request, multi-fields as a diff
 *   against the items' current values, links without a value cleared
 *   (`internal/connection/updates.ts`, `multiFields.ts`, `links.ts`).
 * - `delete`: `batch` of up to 50 `crm.item.delete` commands per request; an item already gone
 *   counts as deleted (`internal/connection/deletes.ts`).
 * - `find`: `crm.item.list` by identity, 50 ids per filter, paged by `>id`
 *   (`internal/connection/find.ts`).
 * - `listOwned`: `crm.item.list` of every item carrying the originator, 50 per page, paged by
 *   `>id`, for `relink` and adoption (`internal/connection/owned.ts`).
 * - `readOwned`: the same listing with the items' values, for `verify` (`select: ["*"]` when
 *   multi-fields are compared, the only select that shows `fm`); `expected` says what the portal
 *   makes of written fields (links, primary links) (`internal/connection/expected.ts`).
 * - `check`: `profile` with a budget of seconds, the pre-flight call before a run reads anything
 *   (`internal/connection/check.ts`).
 * - `identity`: the portal and the webhook user or OAuth app, without secrets, which a
 *   pipeline's state is bound to.
 * - `plan`: `crm.item.fields` per type, unknown field names with the nearest real one, and an
 *   estimate at the configured rate (`internal/connection/plan.ts`).
 *
 * The runner owns ordering, batching, references and the id map; several `create` calls run at
 * once (`concurrency`) and the portal's shared rate limiter keeps their sum within its limits.
 */
import type * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import type * as Bitrix24Client from "./Bitrix24Client.js"
import * as Check from "./internal/connection/check.js"
import * as Deletes from "./internal/connection/deletes.js"
import * as Expected from "./internal/connection/expected.js"
import * as Find from "./internal/connection/find.js"
import * as Imports from "./internal/connection/imports.js"
import * as Owned from "./internal/connection/owned.js"
import * as PackedImports from "./internal/connection/packedImports.js"
import * as Plan from "./internal/connection/plan.js"
import * as TypeFields from "./internal/connection/typeFields.js"
import * as Updates from "./internal/connection/updates.js"
import type * as Target from "./Target.js"

export { prepareFields } from "./internal/connection/prepare.js"
export { toSinkError } from "./internal/connection/requests.js"
export type { FieldInfo, TypeFields } from "./internal/connection/typeFields.js"
export { toUpdateFields } from "./internal/connection/updates.js"

/** Items per `crm.item.batchImport` (the portal refuses 21). */
export const importBatchSize = Imports.batchSize
/** Commands per `batch`. */
export const commandBatchSize = Updates.batchSize
/** Items per `crm.item.list` page, and ids per `@` filter. */
export const pageSize = Find.pageSize

export interface Options {
  readonly originator: string
  readonly dryRun: boolean
  /** Batches the runner keeps in flight (default 4). */
  readonly concurrency?: number | undefined
  /** `auto` (default): imports packed in `batch` once a probe confirms the portal takes them; `off`. */
  readonly packing?: PackedImports.Packing | undefined
}

/** Opens a connection over `client`. */
export const make = (
  client: Bitrix24Client.Client,
  options: Options,
): Effect.Effect<Sink.Connection<Target.Target>> =>
  Effect.sync(() => {
    const { originator, dryRun } = options
    const concurrency = options.concurrency ?? 4
    const typeFields = TypeFields.cached(client)
    const packing = Imports.packingDecision(client, options.packing ?? "auto")
    const connection: Sink.Connection<Target.Target> = {
      identity: client.identity,
      batchSize: options.packing === "off" ? importBatchSize : PackedImports.maxItems,
      updateBatchSize: commandBatchSize,
      concurrency,
      check: Check.make(client),
      plan: Plan.make(client, { dryRun, concurrency, packing: options.packing }, typeFields),
      // The packing probe, asked at the start of a run that will create, beside its other requests.
      readyToCreate: dryRun ? undefined : (target) => Effect.asVoid(packing.enabled(target)),
      create: Imports.make(client, { originator, dryRun, packing }, typeFields),
      update: Updates.make(client, { dryRun }, typeFields),
      delete: Deletes.make(client, { dryRun }),
      find: Find.make(client, originator, typeFields),
      listOwned: Owned.make(client, originator, typeFields),
      readOwned: Owned.makeRead(client, originator, typeFields),
      readCost: Owned.readCost(client),
      expected: Expected.make,
    }
    return connection
  })
