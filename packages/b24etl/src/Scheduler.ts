/** `@b24etl/core/Scheduler`, re-exported as `b24etl/Scheduler`. */
export * from "@b24etl/core/Scheduler"
