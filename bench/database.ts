/**
 * A fresh database on the local PostgreSQL for a benchmark's state (`TEST_POSTGRES_URL`'s server):
 * dropped and created again at the start, dropped by `drop()` at the end unless kept.
 */
import { pg } from "./sources-pg.js"

/** A plain client of the few members the benchmarks use (the bench package has no `@types/pg`). */
export interface Client {
  connect(): Promise<void>
  query(sql: string, values?: ReadonlyArray<unknown>): Promise<{ rows: Array<Record<string, unknown>> }>
  end(): Promise<void>
}

export const client = (connectionString: string): Client =>
  new pg.Client({ connectionString }) as unknown as Client

export const fresh = async (database: string) => {
  const adminUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
  const admin = client(adminUrl)
  await admin.connect()
  await admin.query(`drop database if exists ${database} with (force)`)
  await admin.query(`create database ${database}`)
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return {
    url: url.toString(),
    /**
     * Drops the database unless `keep`, then closes the admin connection. The benchmark's pools
     * resolve `end()` before their sockets close, so the drop is tried again for a few seconds.
     */
    done: async (keep: boolean) => {
      for (let i = 0; !keep && i < 50; i++) {
        try {
          await admin.query(`drop database if exists ${database}`)
          break
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      }
      await admin.end()
    },
  }
}
