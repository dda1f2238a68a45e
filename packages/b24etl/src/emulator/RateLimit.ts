/** `@b24etl/bitrix24-emulator/RateLimit`, re-exported as `b24etl/emulator/RateLimit`. */
export * from "@b24etl/bitrix24-emulator/RateLimit"
