import { Chunk, Effect, Stream } from "effect"
import type { CompiledQuery } from "kysely"
import type { Pool, PoolConnection } from "mysql2"

/**
 * One query's rows from a `mysql2` pool, in chunks as they arrive (`result` events). A page is
 * bounded by its LIMIT, so the buffer is too; the socket is always read, so a slow consumer
 * never trips the server's `net_write_timeout`. Interrupted mid-page, the connection is
 * destroyed rather than returned to the pool with a query still running.
 */
export const stream =
  (pool: Pool) =>
  (query: CompiledQuery, chunkSize: number): Stream.Stream<Record<string, unknown>, unknown> =>
    Stream.asyncPush<Record<string, unknown>, unknown>(
      (emit) =>
        Effect.acquireRelease(
          Effect.async<{ readonly connection: PoolConnection; done: boolean }, unknown>((resume) => {
            pool.getConnection((error, connection) => {
              if (error) resume(Effect.fail(error))
              else resume(Effect.succeed({ connection, done: false }))
            })
          }),
          (session) =>
            Effect.sync(() => (session.done ? session.connection.release() : session.connection.destroy())),
        ).pipe(
          Effect.tap((session) =>
            Effect.sync(() => {
              let buffer: Array<Record<string, unknown>> = []
              session.connection
                .query(query.sql, query.parameters as Array<unknown>)
                .on("result", (row) => {
                  buffer.push(row as Record<string, unknown>)
                  if (buffer.length >= chunkSize) {
                    emit.chunk(Chunk.unsafeFromArray(buffer))
                    buffer = []
                  }
                })
                .on("end", () => {
                  session.done = true
                  if (buffer.length > 0) emit.chunk(Chunk.unsafeFromArray(buffer))
                  emit.end()
                })
                .on("error", (error) => emit.fail(error))
            }),
          ),
        ),
      { bufferSize: "unbounded" },
    )
