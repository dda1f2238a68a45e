/** `@b24etl/bitrix24-emulator/Store`, re-exported as `b24etl/emulator/Store`. */
export * from "@b24etl/bitrix24-emulator/Store"
