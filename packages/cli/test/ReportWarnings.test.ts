import type * as Report from "@b24etl/core/Report"
import { describe, expect, it } from "vitest"
import * as ReportTable from "../src/ReportTable.js"

const report: Report.RunReport = {
  pipeline: "crm",
  runId: "run-2",
  status: "succeeded",
  dryRun: false,
  entities: [
    {
      entity: "company",
      target: "company",
      read: 3,
      created: 0,
      updated: 1,
      unchanged: 2,
      skipped: 0,
      failed: 0,
      deleted: 0,
      warnings: 0,
      durationMs: 1_000,
    },
  ],
  deadLetters: 2,
  failedNow: 0,
  warnings: [
    {
      entity: "company",
      code: "FUTURE_CURSOR",
      message: "company: 1 record has a cursor later than 2026-01-10T12:05:00.000Z (…): key 3. …",
      keys: ["3"],
    },
  ],
  durationMs: 1_000,
  stateLocation: ".pipeline/state",
}

describe("ReportTable.render: warnings and older dead letters", () => {
  it("prints each warning, and says outstanding dead letters come from earlier runs", () => {
    const text = ReportTable.render(report, "pnpm pipeline")
    expect(text).toContain(
      "Status: succeeded in 1.0s\nWarning: company: 1 record has a cursor later than 2026-01-10T12:05:00.000Z (…): key 3. …\nDead letters: 2 (from earlier runs) — see `pnpm pipeline failures crm`",
    )
  })
})
