/** `@b24etl/bitrix24-emulator/FormBody`, re-exported as `b24etl/emulator/FormBody`. */
export * from "@b24etl/bitrix24-emulator/FormBody"
