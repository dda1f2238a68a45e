import * as Pipeline from "@b24etl/core/Pipeline"
import * as Runner from "@b24etl/core/Runner"
import { StateStoreError } from "@b24etl/core/StateStore"
import { describe, expect, it } from "vitest"
import * as Cli from "../src/internal/common.js"
import * as PipelineLoader from "../src/PipelineLoader.js"

describe("Cli.describeError", () => {
  it("says which pipeline and entity a definition or run error is about", () => {
    expect(
      Cli.describeError(
        new Pipeline.DefinitionError({ pipeline: "crm", entity: "deal", message: "no `map` function" }),
      ),
    ).toBe('pipeline "crm", entity "deal": no `map` function')
    expect(
      Cli.describeError(new Runner.RunError({ pipeline: "crm", message: "another process is running it" })),
    ).toBe('pipeline "crm": another process is running it')
    // A module error already names its file: not repeated.
    expect(
      Cli.describeError(
        new Pipeline.DefinitionError({ pipeline: "pipelines/x.ts", message: "pipelines/x.ts must export" }),
      ),
    ).toBe("pipelines/x.ts must export")
  })

  it("points state store errors at the setting to check", () => {
    expect(
      Cli.describeError(
        new StateStoreError({
          operation: "opening the state store",
          message: "postgres://u:***@db/s: refused",
        }),
      ),
    ).toBe(
      "state store failed while opening the state store: postgres://u:***@db/s: refused (check --state or PIPELINE_STATE_URL)",
    )
  })

  it("says where pipelines were looked for and which exist", () => {
    expect(
      Cli.describeError(
        new PipelineLoader.PipelineNotFound({ name: "crn", searched: ["pipelines"], available: ["crm"] }),
      ),
    ).toBe('no pipeline "crn" in pipelines (found: crm); did you mean "crm"?')
    expect(
      Cli.describeError(
        new PipelineLoader.PipelineNotFound({ name: "sales", searched: ["pipelines"], available: ["crm"] }),
      ),
    ).toBe('no pipeline "sales" in pipelines (found: crm); give a pipeline\'s name or the path of its file')
    expect(
      Cli.describeError(new PipelineLoader.PipelineNotFound({ name: "crm", searched: [], available: [] })),
    ).toContain("there is no pipelines/ directory here and PIPELINE_DIR is not set")
  })
})
