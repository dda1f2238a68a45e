import { Data } from "effect"

/**
 * The legacy demo database could not be opened, created, seeded or read. `message` says what was
 * being done and why, and never contains a password.
 */
export class LegacyDatabaseError extends Data.TaggedError("LegacyDatabaseError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}
