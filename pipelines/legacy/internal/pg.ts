import { createRequire } from "node:module"
import type { PostgresPool } from "kysely"

/**
 * The part of `pg` this folder uses, typed structurally: the `pipelines` package has `pg` but not
 * `@types/pg` (as Kysely does, we describe the driver rather than depend on its type package).
 */
export interface PoolConfig {
  readonly connectionString: string
  readonly max?: number | undefined
  readonly options?: string | undefined
  readonly connectionTimeoutMillis?: number | undefined
  readonly types?:
    | { readonly getTypeParser: (oid: number, format?: "text" | "binary") => unknown }
    | undefined
}

export interface Pool extends PostgresPool {
  readonly on: (event: "error", listener: (error: Error) => void) => unknown
  readonly query: <Row>(
    text: string,
    values?: ReadonlyArray<unknown>,
  ) => Promise<{ readonly rows: Array<Row>; readonly rowCount: number | null }>
}

interface Module {
  readonly Pool: new (config: PoolConfig) => Pool
  readonly types: {
    readonly builtins: { readonly DATE: number }
    readonly getTypeParser: (oid: number, format?: "text" | "binary") => unknown
  }
}

export const pg: Module = createRequire(import.meta.url)("pg")
