/** `@b24etl/bitrix24-emulator/Methods`, re-exported as `b24etl/emulator/Methods`. */
export * from "@b24etl/bitrix24-emulator/Methods"
