/** `@b24etl/core/Pipeline`, re-exported as `b24etl/Pipeline`. */
export * from "@b24etl/core/Pipeline"
