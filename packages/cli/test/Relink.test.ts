import type * as Report from "@b24etl/core/Report"
import { describe, expect, it } from "vitest"
import * as Relink from "../src/commands/relink.js"
import * as ReportTable from "../src/ReportTable.js"

const entity = (name: string, counters: Partial<Report.EntityReport>): Report.EntityReport => ({
  entity: name,
  target: name,
  read: 0,
  created: 0,
  updated: 0,
  unchanged: 0,
  deleted: 0,
  warnings: 0,
  skipped: 0,
  failed: 0,
  durationMs: 0,
  ...counters,
})

const report = (entities: ReadonlyArray<Report.EntityReport>): Report.RunReport => ({
  pipeline: "crm",
  runId: "run-1",
  status: "succeeded",
  dryRun: false,
  entities,
  deadLetters: 0,
  durationMs: 2_000,
  stateLocation: ".pipeline/state",
})

describe("adopted items in the run report", () => {
  it("an ADOPTED column after CREATED, only when some entity adopted items", () => {
    const adopted = ReportTable.render(
      report([
        entity("company", { read: 5, unchanged: 5, durationMs: 1_000 }),
        entity("deal", { read: 98, updated: 98, adopted: 98, durationMs: 1_000 }),
      ]),
    ).split("\n")
    expect(adopted[2]).toBe(
      "ENTITY   TARGET   READ  CREATED  ADOPTED  UPDATED  UNCHANGED  SKIPPED  FAILED  DURATION",
    )
    expect(adopted[3]).toBe(
      "company  company     5        0        0        0          5        0       0      1.0s",
    )
    expect(adopted[4]).toBe(
      "deal     deal       98        0       98       98          0        0       0      1.0s",
    )
    expect(adopted[5]).toBe(
      "total              103        0       98       98          5        0       0      2.0s",
    )
    const none = ReportTable.render(report([entity("company", { read: 5, created: 5 })]))
    expect(none).not.toContain("ADOPTED")
  })
})

describe("relink report", () => {
  it("counts per entity, and every record found more than once with its ids", () => {
    const text = Relink.render({
      pipeline: "crm",
      target: "bitrix24 https://real.bitrix24.com (webhook user 1)",
      previousTarget: "bitrix24 local emulator (.pipeline/portal)",
      entities: [
        { entity: "company", target: "company", adopted: 10, changed: 10, missing: 2, duplicates: [] },
        {
          entity: "deal",
          target: "deal",
          adopted: 4,
          changed: 0,
          missing: 0,
          duplicates: [{ key: "7", targetIds: ["15", "98"] }],
        },
      ],
    })
    expect(text).toContain(
      "Relinked pipeline crm to bitrix24 https://real.bitrix24.com (webhook user 1) (its state belonged to bitrix24 local emulator (.pipeline/portal))",
    )
    expect(text).toContain("company  company       10       10        2           0")
    expect(text).toContain("  deal:7 -> ids 15, 98")
  })
})
