/** `@b24etl/core/EntityGraph`, re-exported as `b24etl/EntityGraph`. */
export * from "@b24etl/core/EntityGraph"
