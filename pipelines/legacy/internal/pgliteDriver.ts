import type { PGlite } from "@electric-sql/pglite"
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely"

/**
 * PGlite as the `pg`-like pool Kysely's `PostgresDialect` expects, for creating and seeding the
 * embedded database before it is served over a socket. PGlite is a single session, so the pool
 * hands out one client at a time: a transaction holds it until it commits.
 */
export const pool = (pglite: PGlite): PostgresPool => {
  let queue: Promise<void> = Promise.resolve()
  return {
    connect: () =>
      new Promise<PostgresPoolClient>((resolve) => {
        queue = queue.then(
          () =>
            new Promise<void>((release) => {
              resolve({
                query: ((text: string, parameters: ReadonlyArray<unknown>) =>
                  pglite.query<Record<string, unknown>>(text, [...parameters]).then(
                    (result): PostgresQueryResult<unknown> => ({
                      command: command(text),
                      rowCount: result.affectedRows ?? result.rows.length,
                      rows: result.rows,
                    }),
                  )) as PostgresPoolClient["query"],
                release: () => release(),
              })
            }),
        )
      }),
    // PGlite belongs to the caller, who closes it.
    end: () => Promise.resolve(),
  }
}

const command = (text: string): PostgresQueryResult<unknown>["command"] => {
  const word = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase()
  switch (word) {
    case "INSERT":
    case "UPDATE":
    case "DELETE":
    case "MERGE":
    case "COMMIT":
    case "ROLLBACK":
      return word
    default:
      return "SELECT"
  }
}
