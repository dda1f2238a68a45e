import type * as StateStoreSql from "@b24etl/core/StateStoreSql"
import mysql from "mysql2"
import pg from "pg"

/** The database drivers the command line opens server state stores with (core imports neither). */
export const drivers: StateStoreSql.Drivers = {
  postgres: (url) => new pg.Pool({ connectionString: url, max: 4 }),
  mysql: (url) =>
    mysql.createPool({ uri: url, connectionLimit: 4, supportBigNumbers: true, bigNumberStrings: true }),
}
