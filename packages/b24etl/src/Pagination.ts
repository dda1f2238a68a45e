/** `@b24etl/connectors/Pagination`, re-exported as `b24etl/Pagination`. */
export * from "@b24etl/connectors/Pagination"
