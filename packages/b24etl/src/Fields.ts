/** `@b24etl/sinks/Fields`, re-exported as `b24etl/Fields`. */
export * from "@b24etl/sinks/Fields"
