/** `@b24etl/core/Report`, re-exported as `b24etl/Report`. */
export * from "@b24etl/core/Report"
