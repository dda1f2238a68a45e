/** `@b24etl/core/Step`, re-exported as `b24etl/Step`. */
export * from "@b24etl/core/Step"
