/** `@b24etl/bitrix24-emulator/Serve`, re-exported as `b24etl/emulator/Serve`. */
export * from "@b24etl/bitrix24-emulator/Serve"
