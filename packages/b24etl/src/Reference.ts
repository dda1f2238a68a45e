/** `@b24etl/core/Reference`, re-exported as `b24etl/Reference`. */
export * from "@b24etl/core/Reference"
