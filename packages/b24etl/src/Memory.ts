/** `@b24etl/connectors/Memory`, re-exported as `b24etl/Memory`. */
export * from "@b24etl/connectors/Memory"
