/** `@b24etl/sinks/SharedRateLimiter`, re-exported as `b24etl/SharedRateLimiter`. */
export * from "@b24etl/sinks/SharedRateLimiter"
