import { Chunk, Effect, Stream } from "effect"
import type { CompiledQuery } from "kysely"
import pg from "pg"

/**
 * One query's rows from a `pg` pool, in chunks as they arrive (`row` events, nothing
 * accumulated by the driver). A page is bounded by its LIMIT, so the buffer is too; the socket
 * is always read, so the server never waits on a slow consumer. Interrupted mid-page, the
 * session is destroyed rather than returned to the pool with a query still running.
 */
export const stream =
  (pool: pg.Pool) =>
  (query: CompiledQuery, chunkSize: number): Stream.Stream<Record<string, unknown>, unknown> =>
    Stream.asyncPush<Record<string, unknown>, unknown>(
      (emit) =>
        Effect.acquireRelease(
          Effect.async<{ readonly client: pg.PoolClient; done: boolean }, unknown>((resume) => {
            pool.connect((error, client) => {
              if (error || !client) resume(Effect.fail(error))
              else resume(Effect.succeed({ client, done: false }))
            })
          }),
          (session) => Effect.sync(() => session.client.release(session.done ? undefined : true)),
        ).pipe(
          Effect.tap((session) =>
            Effect.sync(() => {
              let buffer: Array<Record<string, unknown>> = []
              const q = session.client.query(new pg.Query(query.sql, query.parameters as Array<unknown>))
              q.on("row", (row: Record<string, unknown>) => {
                buffer.push(row)
                if (buffer.length >= chunkSize) {
                  emit.chunk(Chunk.unsafeFromArray(buffer))
                  buffer = []
                }
              })
              q.on("end", () => {
                session.done = true
                if (buffer.length > 0) emit.chunk(Chunk.unsafeFromArray(buffer))
                emit.end()
              })
              q.on("error", (error: unknown) => emit.fail(error))
            }),
          ),
        ),
      { bufferSize: "unbounded" },
    )
