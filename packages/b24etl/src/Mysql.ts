/** `@b24etl/connectors/Mysql`, re-exported as `b24etl/Mysql`. */
export * from "@b24etl/connectors/Mysql"
