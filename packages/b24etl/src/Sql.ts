/** `@b24etl/connectors/Sql`, re-exported as `b24etl/Sql`. */
export * from "@b24etl/connectors/Sql"
