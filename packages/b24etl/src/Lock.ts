/** `@b24etl/core/Lock`, re-exported as `b24etl/Lock`. */
export * from "@b24etl/core/Lock"
