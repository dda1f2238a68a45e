/** `@b24etl/core/Runner`, re-exported as `b24etl/Runner`. */
export * from "@b24etl/core/Runner"
