/** `@b24etl/core/Dropped`, re-exported as `b24etl/Dropped`. */
export * from "@b24etl/core/Dropped"
