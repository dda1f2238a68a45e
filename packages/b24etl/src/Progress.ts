/** `@b24etl/core/Progress`, re-exported as `b24etl/Progress`. */
export * from "@b24etl/core/Progress"
