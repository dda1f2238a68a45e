/**
 * A sink for `bench/runner.ts` that keeps its target in memory and answers at once: the Bitrix24
 * sink's shape (batches of 20 creates and 50 updates, 4 in flight) without the network, so a run
 * through it measures the runner and the state store alone. It honours the contract like
 * `packages/core/test/fixtures/MemorySink.ts`: `create` assigns fresh ids and keeps the items
 * (so `find` and `update` see them), `plan` reports fields it does not know, dry runs write nothing.
 */
import * as Sink from "@b24etl/core/Sink"
import { Effect } from "effect"

interface Item {
  readonly id: string
  readonly originId: string
  fields: Readonly<Record<string, unknown>>
}

export const target: Sink.Target = { sink: "memory", name: "company" }

export const make = (options: { readonly knownFields?: ReadonlyArray<string> } = {}) => {
  const targets = new Map<string, Map<string, Item>>()
  const items = (name: string) => {
    const map = targets.get(name) ?? new Map<string, Item>()
    targets.set(name, map)
    return map
  }
  const calls = { create: 0, update: 0, find: 0 }
  let nextId = 1
  const known = options.knownFields === undefined ? undefined : new Set(options.knownFields)

  const sink: Sink.Sink = {
    version: Sink.version,
    kind: "memory",
    name: "in-memory sink",
    connect: ({ dryRun }) =>
      Effect.succeed<Sink.Connection>({
        batchSize: 20,
        updateBatchSize: 50,
        concurrency: 4,
        check: Effect.void,
        plan: (entities) =>
          Effect.succeed({
            problems: entities.flatMap((e) =>
              known === undefined
                ? []
                : e.fields
                    .filter((f) => !known.has(f))
                    .map((f) => ({ entity: e.entity, field: f, message: `unknown field ${f}` })),
            ),
            notes: [`in memory: ${[...targets.values()].reduce((n, m) => n + m.size, 0)} items`],
          }),
        create: (t, batch) =>
          Effect.sync(() => {
            calls.create++
            const map = items(t.name)
            return batch.map((item) => {
              const id = String(nextId++)
              if (!dryRun) map.set(id, { id, originId: item.originId, fields: item.fields })
              return Sink.written(dryRun ? `dry-${id}` : id)
            })
          }),
        update: (t, batch) =>
          Effect.sync(() => {
            calls.update++
            const map = items(t.name)
            return batch.map((u) => {
              const item = map.get(u.targetId)
              if (item === undefined) return Sink.rejected("NOT_FOUND", `no item ${u.targetId}`)
              if (!dryRun) item.fields = { ...item.fields, ...u.fields }
              return Sink.written(u.targetId)
            })
          }),
        find: (t, batch) =>
          Effect.sync(() => {
            calls.find++
            const wanted = new Set(batch.map((b) => b.originId))
            const found = new Map<string, string>()
            for (const item of items(t.name).values())
              if (wanted.has(item.originId)) found.set(item.originId, item.id)
            return found
          }),
      }),
  }
  return { sink, calls, items }
}
