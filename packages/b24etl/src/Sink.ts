/** `@b24etl/core/Sink`, re-exported as `b24etl/Sink`. */
export * from "@b24etl/core/Sink"
