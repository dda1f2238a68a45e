/** `@b24etl/sinks/RateLimiter`, re-exported as `b24etl/RateLimiter`. */
export * from "@b24etl/sinks/RateLimiter"
