/** `@b24etl/sinks/Bitrix24Connection`, re-exported as `b24etl/Bitrix24Connection`. */
export * from "@b24etl/sinks/Bitrix24Connection"
