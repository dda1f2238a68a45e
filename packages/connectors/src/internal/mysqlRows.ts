import { Effect, type Scope } from "effect"
import type { CompiledQuery } from "kysely"
import type { Pool, PoolConnection } from "mysql2"
import * as MysqlTypes from "./mysqlTypes.js"
import * as RowReader from "./rowReader.js"

/**
 * One query's rows from a `mysql2` pool, taken in chunks as they arrive (`result` events), paused
 * while downstream catches up (see `rowReader.ts`). Closed mid-page, the connection is
 * destroyed rather than returned to the pool busy.
 */
export const open =
  (pool: Pool) =>
  (query: CompiledQuery, chunkSize: number): Effect.Effect<RowReader.Take, unknown, Scope.Scope> =>
    RowReader.open(
      (handlers) =>
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
          Effect.map((session) => {
            let convert = (row: MysqlTypes.Row) => row
            session.connection
              .query({
                sql: query.sql,
                values: query.parameters as Array<unknown>,
                ...MysqlTypes.queryOptions,
              })
              .on("fields", (fields) => {
                convert = MysqlTypes.converter((fields ?? []) as unknown as ReadonlyArray<MysqlTypes.Field>)
              })
              .on("result", (row) => handlers.row(convert(row as MysqlTypes.Row)))
              .on("end", () => {
                session.done = true
                handlers.end()
              })
              .on("error", handlers.error)
            return { pause: () => session.connection.pause(), resume: () => session.connection.resume() }
          }),
        ),
      chunkSize,
    )
