/** `@b24etl/bitrix24-emulator/EntityTypes`, re-exported as `b24etl/emulator/EntityTypes`. */
export * from "@b24etl/bitrix24-emulator/EntityTypes"
