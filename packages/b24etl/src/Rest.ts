/** `@b24etl/connectors/Rest`, re-exported as `b24etl/Rest`. */
export * from "@b24etl/connectors/Rest"
