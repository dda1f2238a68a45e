/** `@b24etl/core/SecretUrl`, re-exported as `b24etl/SecretUrl`. */
export * from "@b24etl/core/SecretUrl"
