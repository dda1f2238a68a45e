import { describe, expect, it } from "@effect/vitest"
import { Cause } from "effect"
import * as LogLine from "../src/LogLine.js"

describe("LogLine", () => {
  it("prints the time, the level and the message, with no fiber id", () => {
    const line = LogLine.format({
      date: new Date("2026-11-27T04:04:00.000Z"),
      level: "WARN",
      message: ["renewing lock failed,", "retrying", { attempt: 2 }],
      cause: Cause.empty,
    })
    expect(line).toBe('2026-11-27T04:04:00.000Z WARN renewing lock failed, retrying {"attempt":2}')
    expect(line).not.toMatch(/\(#\d+\)/)
  })

  it("adds the cause on the lines after", () => {
    const line = LogLine.format({
      date: new Date(0),
      level: "ERROR",
      message: "write failed",
      cause: Cause.fail(new Error("socket hang up")),
    })
    expect(line.split("\n")[0]).toBe("1970-01-01T00:00:00.000Z ERROR write failed")
    expect(line).toContain("socket hang up")
  })
})
