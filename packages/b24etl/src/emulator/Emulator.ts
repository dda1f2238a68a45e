/** `@b24etl/bitrix24-emulator/Emulator`, re-exported as `b24etl/emulator/Emulator`. */
export * from "@b24etl/bitrix24-emulator/Emulator"
