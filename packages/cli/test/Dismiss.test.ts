import { beforeAll, describe, expect, it } from "vitest"
import { type Project, project } from "./fixtures/Cli.js"
import * as Pipelines from "./fixtures/pipelines.js"

// The real command in a temporary project with its own embedded state store.
// Child processes each start a TypeScript loader: slow on a busy 2-core machine, so generous.
const TIMEOUT = 600_000

let p: Project
beforeAll(() => {
  p = project()
  p.writePipeline("deals.ts", Pipelines.deals)
})

describe("pipeline failures --dismiss (child process)", () => {
  it("a dismissed dead letter stays listed, is not retried, and the next run exits 0", {
    timeout: TIMEOUT,
  }, async () => {
    const run = await p.cli(["run", "deals"])
    expect(run.code).toBe(2)

    const dismiss = await p.cli(["failures", "deals", "--entity", "deal", "--dismiss", "2"])
    expect(dismiss.stderr).toBe("")
    expect(dismiss.code).toBe(0)
    expect(dismiss.stdout).toContain("Dismissed 1 dead letter of pipeline deals (entity deal, key 2)")

    const listed = await p.cli(["failures", "deals"])
    expect(listed.stdout).toMatch(
      /deal\s+2\s+map\s+MAP_FAILED\s+1\s+\d{4}-\d\d-\d\d\s+amount "n\/a" is not a number/,
    )

    // The same failure again: it stays dismissed, so the run did nothing wrong.
    const again = await p.cli(["run", "deals"])
    expect(again.code).toBe(0)
    expect(again.stdout).toContain("Dead letters: 0")
    const retry = await p.cli(["retry", "deals"])
    expect(retry.code).toBe(0)
    expect(retry.stdout).toMatch(/deal\s+deal\s+0\s+0\s+0\s+0\s+0\s+0/)

    // By code: nothing is left to dismiss.
    const byCode = await p.cli(["failures", "deals", "--dismiss-code", "MAP_FAILED"])
    expect(byCode.code).toBe(0)
    expect(byCode.stdout).toContain("Dismissed 0 dead letters of pipeline deals (code MAP_FAILED)")
    const json = JSON.parse((await p.cli(["failures", "deals", "--json"])).stdout)
    expect(json).toHaveLength(1)
    expect(json[0]).toMatchObject({ sourceKey: "2", attempts: 2 })
    expect(json[0].dismissedAt).not.toBeNull()
  })
})
