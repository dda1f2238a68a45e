/** `@b24etl/sinks/Bitrix24Client`, re-exported as `b24etl/Bitrix24Client`. */
export * from "@b24etl/sinks/Bitrix24Client"
