/** `@b24etl/core/Source`, re-exported as `b24etl/Source`. */
export * from "@b24etl/core/Source"
