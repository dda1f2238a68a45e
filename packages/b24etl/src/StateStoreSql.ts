/** `@b24etl/core/StateStoreSql`, re-exported as `b24etl/StateStoreSql`. */
export * from "@b24etl/core/StateStoreSql"
