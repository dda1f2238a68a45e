/** `@b24etl/sinks/Bitrix24`, re-exported as `b24etl/Bitrix24`. */
export * from "@b24etl/sinks/Bitrix24"
