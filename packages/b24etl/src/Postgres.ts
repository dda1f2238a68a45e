/** `@b24etl/connectors/Postgres`, re-exported as `b24etl/Postgres`. */
export * from "@b24etl/connectors/Postgres"
