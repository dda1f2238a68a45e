/** `@b24etl/core/StateStore`, re-exported as `b24etl/StateStore`. */
export * from "@b24etl/core/StateStore"
