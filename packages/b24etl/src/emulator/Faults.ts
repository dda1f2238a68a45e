/** `@b24etl/bitrix24-emulator/Faults`, re-exported as `b24etl/emulator/Faults`. */
export * from "@b24etl/bitrix24-emulator/Faults"
