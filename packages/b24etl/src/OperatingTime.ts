/** `@b24etl/sinks/OperatingTime`, re-exported as `b24etl/OperatingTime`. */
export * from "@b24etl/sinks/OperatingTime"
