/** `@b24etl/core/Json`, re-exported as `b24etl/Json`. */
export * from "@b24etl/core/Json"
