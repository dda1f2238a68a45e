/** `@b24etl/connectors/SqlSpec`, re-exported as `b24etl/SqlSpec`. */
export * from "@b24etl/connectors/SqlSpec"
