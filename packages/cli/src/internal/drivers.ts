import type * as StateStoreSql from "@b24etl/core/StateStoreSql"

const schemeOf = (url: string) => /^([a-z][a-z0-9+.-]*):/i.exec(url.trim())?.[1]?.toLowerCase()

/**
 * The database driver the command line opens a server state store with (core imports neither):
 * only the one the URL's scheme names is loaded, none for the embedded store's directory.
 */
export const driversFor = async (url: string): Promise<StateStoreSql.Drivers> => {
  switch (schemeOf(url)) {
    case "postgres":
    case "postgresql": {
      const { default: pg } = await import("pg")
      return { postgres: (url) => new pg.Pool({ connectionString: url, max: 4 }) }
    }
    case "mysql":
    case "mariadb": {
      const { default: mysql } = await import("mysql2")
      return {
        mysql: (url) =>
          mysql.createPool({ uri: url, connectionLimit: 4, supportBigNumbers: true, bigNumberStrings: true }),
      }
    }
    default:
      return {}
  }
}
