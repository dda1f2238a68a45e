/** `@b24etl/sinks/Target`, re-exported as `b24etl/Target`. */
export * from "@b24etl/sinks/Target"
