/** `@b24etl/connectors/RestAuth`, re-exported as `b24etl/RestAuth`. */
export * from "@b24etl/connectors/RestAuth"
