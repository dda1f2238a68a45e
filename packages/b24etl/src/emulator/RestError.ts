/** `@b24etl/bitrix24-emulator/RestError`, re-exported as `b24etl/emulator/RestError`. */
export * from "@b24etl/bitrix24-emulator/RestError"
