/** `@b24etl/bitrix24-emulator/OperatingTime`, re-exported as `b24etl/emulator/OperatingTime`. */
export * from "@b24etl/bitrix24-emulator/OperatingTime"
