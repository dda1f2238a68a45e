import type * as Report from "@b24etl/core/Report"
import { describe, expect, it } from "vitest"
import * as ReportTable from "../src/ReportTable.js"

const entity = (name: string, counters: Partial<Report.EntityReport>): Report.EntityReport => ({
  entity: name,
  target: name,
  read: 0,
  created: 0,
  updated: 0,
  unchanged: 0,
  skipped: 0,
  failed: 0,
  deleted: 0,
  warnings: 0,
  durationMs: 0,
  ...counters,
})

const report: Report.RunReport = {
  pipeline: "crm",
  runId: "run-1",
  status: "partial",
  dryRun: false,
  entities: [
    entity("company", { read: 1200, created: 1000, updated: 150, unchanged: 50, durationMs: 65_000 }),
    entity("contact", { read: 10, created: 7, skipped: 1, failed: 2, durationMs: 1_500 }),
  ],
  deadLetters: 2,
  durationMs: 66_500,
  stateLocation: "postgres://etl:***@db/state",
}

describe("ReportTable.render", () => {
  it("prints a row per entity and a total, then status, dead letters with the command to see them, and the state", () => {
    expect(ReportTable.render(report, "pnpm pipeline")).toBe(
      [
        "Pipeline crm — run run-1",
        "",
        "ENTITY   TARGET    READ  CREATED  UPDATED  UNCHANGED  SKIPPED  FAILED  DURATION",
        "company  company  1,200    1,000      150         50        0       0    1m 05s",
        "contact  contact     10        7        0          0        1       2      1.5s",
        "total             1,210    1,007      150         50        1       2    1m 07s",
        "",
        "Status: done with dead letters in 1m 07s",
        "Dead letters: 2 — see `pnpm pipeline failures crm`, then `pnpm pipeline retry crm`",
        "State: postgres://etl:***@db/state",
      ].join("\n"),
    )
  })

  it("says why a run failed and how to continue an interrupted one", () => {
    const failed = ReportTable.render({
      ...report,
      status: "failed",
      deadLetters: 0,
      error: "bitrix24 refused (ACCESS_DENIED)",
    })
    expect(failed).toContain(
      "Status: failed in 1m 07s\nError: bitrix24 refused (ACCESS_DENIED)\nDead letters: 0",
    )
    const interrupted = ReportTable.render({ ...report, status: "interrupted", deadLetters: 0 })
    expect(interrupted).toContain("Stopped before the end; run `pnpm pipeline run crm` again to continue.")
  })

  it("marks a dry run", () => {
    const dry = ReportTable.render({ ...report, dryRun: true, entities: [report.entities[0]!] })
    expect(dry.split("\n")[0]).toBe("Pipeline crm (dry run: nothing was written) — run run-1")
    expect(dry).not.toContain("total")
    expect(dry).toContain("Dead letters: 2 (in this dry run)")
  })

  it("shows a DELETED column only when a delete policy deleted something", () => {
    const deleted = ReportTable.render({
      ...report,
      entities: [entity("company", { read: 3, deleted: 2, unchanged: 1, durationMs: 1_000 })],
    })
    expect(deleted).toContain(
      [
        "ENTITY   TARGET   READ  CREATED  UPDATED  DELETED  UNCHANGED  SKIPPED  FAILED  DURATION",
        "company  company     3        0        0        2          1        0       0      1.0s",
      ].join("\n"),
    )
    expect(ReportTable.render(report)).not.toContain("DELETED")
  })

  it("shows a WARNINGS column and where to see them when field helpers dropped values", () => {
    const warned = ReportTable.render({
      ...report,
      entities: [entity("contact", { read: 4, created: 4, warnings: 3, durationMs: 1_000 })],
    })
    expect(warned).toContain(
      [
        "ENTITY   TARGET   READ  CREATED  UPDATED  UNCHANGED  SKIPPED  FAILED  WARNINGS  DURATION",
        "contact  contact     4        4        0          0        0       0         3      1.0s",
      ].join("\n"),
    )
    expect(warned).toContain(
      "Warnings: 3 values dropped by field helpers (duplicate, empty or invalid) — see `pnpm pipeline failures crm --warnings`",
    )
    expect(ReportTable.render(report)).not.toContain("WARNINGS")
  })
})
