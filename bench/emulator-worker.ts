/**
 * An emulator in a worker thread of its own, for `bench/sink.ts`: the portal is not on the client's
 * machine, so its CPU (parsing 1,000-item batches, its indexes, its request log) must not be taken
 * from the client measured. Both sides of the benchmark, the SDK script and the project, get one.
 *
 * The main thread calls `start(config)`; the worker (this file, loaded with `workerData`) runs
 * `Emulator.make` and answers the few questions the benchmark asks: the request log and counters.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import { Effect, Exit, Scope } from "effect"

type Question = "requestLog" | "counters"

/** The emulator as the benchmark sees it, across the thread boundary. */
export interface Remote {
  readonly webhookUrl: string
  readonly certificate: string | undefined
  readonly requestLog: Effect.Effect<ReadonlyArray<Emulator.RequestLogEntry>>
  readonly counters: Effect.Effect<Emulator.Counters>
}

/** Starts an emulator in a worker thread, stopped with the scope. */
export const start = (config: Emulator.EmulatorConfig) =>
  Effect.acquireRelease(
    Effect.async<{ readonly worker: Worker; readonly remote: Remote }>((resume) => {
      const worker = new Worker(
        // The worker loads this TypeScript file through tsx, as the main thread did (a worker's own
        // `--import tsx` comes too late for its entry file on Node 20).
        `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}) })`,
        { eval: true, workerData: config },
      )
      let asked = 0
      const pending = new Map<number, (value: unknown) => void>()
      const ask = <A>(question: Question) =>
        Effect.async<A>((answer) => {
          const id = ++asked
          pending.set(id, (value) => answer(Effect.succeed(value as A)))
          worker.postMessage({ id, question })
        })
      worker.on(
        "message",
        (m: { id?: number; value?: unknown; webhookUrl?: string; certificate?: string }) => {
          if (m.id === undefined) {
            resume(
              Effect.succeed({
                worker,
                remote: {
                  webhookUrl: m.webhookUrl!,
                  certificate: m.certificate,
                  requestLog: ask<ReadonlyArray<Emulator.RequestLogEntry>>("requestLog"),
                  counters: ask<Emulator.Counters>("counters"),
                },
              }),
            )
            return
          }
          pending.get(m.id)?.(m.value)
          pending.delete(m.id)
        },
      )
      worker.on("error", (e) => resume(Effect.die(e)))
    }),
    ({ worker }) => Effect.promise(() => worker.terminate()),
  ).pipe(Effect.map(({ remote }) => remote))

if (!isMainThread && parentPort !== null) {
  const port = parentPort
  const scope = Effect.runSync(Scope.make())
  Effect.runPromise(Scope.extend(Emulator.make(workerData as Emulator.EmulatorConfig), scope)).then(
    (emulator) => {
      port.on("message", ({ id, question }: { id: number; question: Question }) => {
        const answer: Effect.Effect<unknown> =
          question === "requestLog" ? emulator.requestLog : emulator.counters
        Effect.runPromise(answer).then((value) => port.postMessage({ id, value }))
      })
      port.on("close", () => Effect.runFork(Scope.close(scope, Exit.void)))
      port.postMessage({ webhookUrl: emulator.webhookUrl, certificate: emulator.certificate })
    },
    (e) => {
      throw e
    },
  )
}
