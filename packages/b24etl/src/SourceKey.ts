/** `@b24etl/core/SourceKey`, re-exported as `b24etl/SourceKey`. */
export * from "@b24etl/core/SourceKey"
