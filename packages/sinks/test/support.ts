import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import type * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"

/** A portal of its own for one test, on a free loopback port, closed with the test's scope. */
export const portal = (config: Emulator.EmulatorConfig = {}) => Emulator.make(config)

/** Fast retries, so tests of faults do not wait for production backoff. */
export const fastRetry = { base: "5 millis", cap: "50 millis", times: 12 } as const

export const webhookSink = (emulator: Emulator.Service, options: Bitrix24.SinkOptions = {}) =>
  Bitrix24.sink(Bitrix24.webhook(emulator.webhookUrl), { retry: fastRetry, ...options })

export const connect = (
  sink: Sink.Sink<Bitrix24.Target>,
  options: { originator?: string; dryRun?: boolean } = {},
) => sink.connect({ originator: options.originator ?? "legacy-crm", dryRun: options.dryRun ?? false })

/** `n` items `entity:0..n-1` with the fields `fields(i)` gives. */
export const items = (
  entity: string,
  n: number,
  fields: (i: number) => Record<string, unknown>,
  from = 0,
): ReadonlyArray<Sink.SinkItem> =>
  Array.from({ length: n }, (_, k) => {
    const i = from + k
    return { sourceKey: String(i), originId: `${entity}:${i}`, fields: fields(i) }
  })

export const ids = (results: ReadonlyArray<Sink.ItemResult>): ReadonlyArray<string> =>
  results.map((r) => (r._tag === "Written" ? r.targetId : `rejected:${r.code}`))

export const methodCount = (emulator: Emulator.Service, method: string) =>
  Effect.map(emulator.counters, (c) => c.byMethod[method] ?? 0)

/** `batch` requests that carried commands of `method`. */
export const batchesWith = (emulator: Emulator.Service, method: string) =>
  Effect.map(
    emulator.requestLog,
    (log) => log.filter((e) => e.method === "batch" && e.commands?.includes(method) === true).length,
  )
