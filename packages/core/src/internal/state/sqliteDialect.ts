import {
  CompiledQuery,
  type DatabaseConnection,
  DeleteQueryNode,
  type Driver,
  InsertQueryNode,
  type QueryResult,
  RawNode,
  SqliteDialect,
  UpdateQueryNode,
} from "kysely"

/**
 * Kysely over `node-sqlite3-wasm` (SQLite compiled to WebAssembly, files through Node's `fs`).
 * Kysely's own `SqliteDialect` expects better-sqlite3's statements, which say whether they return
 * rows (`reader`); node-sqlite3-wasm's do not, so this driver runs every statement with `all`
 * (rows for selects and `returning`, none otherwise) and asks `changes()` after a write. The
 * query compiler, adapter and introspector are Kysely's SQLite ones.
 */

/** What this driver needs of a `node-sqlite3-wasm` `Database` (structural: no import of the package). */
export interface WasmDatabase {
  readonly prepare: (sql: string) => WasmStatement
  readonly close: () => void
}

export interface WasmStatement {
  readonly all: (values?: Array<WasmValue>) => ReadonlyArray<Record<string, unknown>>
  readonly finalize: () => void
}

type WasmValue = number | bigint | string | boolean | Uint8Array | null

/** Parameters as SQLite takes them; anything else is refused, naming its type. */
const bindable = (value: unknown): WasmValue => {
  if (value === undefined || value === null) return null
  switch (typeof value) {
    case "number":
    case "bigint":
    case "string":
    case "boolean":
      return value
  }
  if (value instanceof Uint8Array) return value
  // Timestamps are written as text by the store (`time.ts`); a Date here is a mistake, not data.
  throw new TypeError(`SQLite cannot bind a parameter of type ${Object.prototype.toString.call(value)}`)
}

/** Statements whose result should carry the number of rows they changed. */
const isWrite = (query: CompiledQuery["query"]) =>
  InsertQueryNode.is(query) || UpdateQueryNode.is(query) || DeleteQueryNode.is(query) || RawNode.is(query)

class WasmConnection implements DatabaseConnection {
  constructor(private readonly db: WasmDatabase) {}

  private all(sql: string, parameters: ReadonlyArray<unknown>) {
    const statement = this.db.prepare(sql)
    try {
      return statement.all(parameters.map(bindable))
    } finally {
      // node-sqlite3-wasm frees statements only when asked.
      statement.finalize()
    }
  }

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    try {
      const rows = this.all(compiled.sql, compiled.parameters) as Array<R>
      if (!isWrite(compiled.query)) return Promise.resolve({ rows })
      const info = this.all("select changes() as changes, last_insert_rowid() as id", [])[0]
      return Promise.resolve({
        rows,
        numAffectedRows: BigInt(info?.changes as number | bigint),
        insertId: BigInt(info?.id as number | bigint),
      })
    } catch (e) {
      return Promise.reject(e)
    }
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    // The store never streams; one chunk keeps the contract for whoever does.
    yield await this.executeQuery<R>(compiled)
  }
}

/**
 * One connection, as SQLite in one process has: callers queue for it, so a transaction's
 * statements are never interleaved with another fiber's.
 */
class WasmDriver implements Driver {
  private db: WasmDatabase | undefined
  private connection: WasmConnection | undefined
  private queue: Promise<void> = Promise.resolve()
  private release: (() => void) | undefined

  constructor(db: WasmDatabase) {
    this.db = db
  }

  async init(): Promise<void> {
    if (this.db !== undefined) this.connection = new WasmConnection(this.db)
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.queue
    let release: () => void = () => undefined
    this.queue = new Promise((resolve) => {
      release = resolve
    })
    await previous
    this.release = release
    if (this.connection === undefined) throw new Error("the SQLite database is not open")
    return this.connection
  }

  async releaseConnection(): Promise<void> {
    const release = this.release
    this.release = undefined
    release?.()
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // `immediate`: the write lock is taken at `begin`, not half-way through the transaction.
    await connection.executeQuery(CompiledQuery.raw("begin immediate"))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"))
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("rollback"))
  }

  async destroy(): Promise<void> {
    this.db?.close()
    this.db = undefined
    this.connection = undefined
  }
}

/** Kysely's SQLite dialect over an open database, with the driver above; Kysely closes it when destroyed. */
export class WasmSqliteDialect extends SqliteDialect {
  constructor(private readonly db: WasmDatabase) {
    // The base class's `database` is never used: `createDriver` is ours.
    super({ database: db as never })
  }

  override createDriver(): Driver {
    return new WasmDriver(this.db)
  }
}
