import { Effect, type Scope } from "effect"
import type { CompiledQuery } from "kysely"
import pg from "pg"
import * as RowReader from "./rowReader.js"

/** The socket under a `pg` client: not in its types, but how `pg` streams are paused. */
type WithSocket = { readonly connection: { readonly stream: { pause(): void; resume(): void } } }

/**
 * One query's rows from a `pg` pool, taken in chunks as they arrive (`row` events, nothing
 * accumulated by the driver), paused while downstream catches up (see `rowReader.ts`).
 * Closed mid-page, the session is destroyed rather than returned to the pool busy.
 */
export const open =
  (pool: pg.Pool) =>
  (query: CompiledQuery, chunkSize: number): Effect.Effect<RowReader.Take, unknown, Scope.Scope> =>
    RowReader.open(
      (handlers) =>
        Effect.acquireRelease(
          Effect.async<{ readonly client: pg.PoolClient; done: boolean }, unknown>((resume) => {
            pool.connect((error, client) => {
              if (error || !client) resume(Effect.fail(error))
              else resume(Effect.succeed({ client, done: false }))
            })
          }),
          (session) =>
            Effect.sync(() => {
              if (!session.done) (session.client as unknown as WithSocket).connection.stream.resume()
              session.client.release(session.done ? undefined : true)
            }),
        ).pipe(
          Effect.map((session) => {
            const q = session.client.query(new pg.Query(query.sql, query.parameters as Array<unknown>))
            q.on("row", handlers.row)
            q.on("end", () => {
              session.done = true
              handlers.end()
            })
            q.on("error", handlers.error)
            const socket = (session.client as unknown as WithSocket).connection.stream
            return { pause: () => socket.pause(), resume: () => socket.resume() }
          }),
        ),
      chunkSize,
    )
