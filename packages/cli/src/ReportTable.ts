/** The report printed at the end of a run: a table per entity, then the outcome and what to do next. */
import type * as Report from "@b24etl/core/Report"
import * as Format from "./internal/format.js"
import * as Table from "./internal/table.js"

const statusText: Record<Report.RunReport["status"], string> = {
  succeeded: "succeeded",
  partial: "done with dead letters",
  failed: "failed",
  interrupted: "interrupted",
  running: "running",
}

/** The run report as text; `command` is how the user runs the CLI, for the hints (`pnpm pipeline`). */
export const render = (report: Report.RunReport, command = "pnpm pipeline"): string => {
  const n = Format.count
  const rows = report.entities.map((e) => [
    e.entity,
    e.target,
    n(e.read),
    n(e.created),
    n(e.updated),
    n(e.unchanged),
    n(e.skipped),
    n(e.failed),
    Format.duration(e.durationMs),
  ])
  if (report.entities.length > 1) {
    const sum = (k: "read" | "created" | "updated" | "unchanged" | "skipped" | "failed") =>
      n(report.entities.reduce((s, e) => s + e[k], 0))
    rows.push([
      "total",
      "",
      sum("read"),
      sum("created"),
      sum("updated"),
      sum("unchanged"),
      sum("skipped"),
      sum("failed"),
      Format.duration(report.durationMs),
    ])
  }
  const right = { align: "right" as const }
  // Adopted items (found in the portal when an entity's id map was empty) only when there are any.
  const adopted = report.entities.reduce((s, e) => s + (e.adopted ?? 0), 0)
  if (adopted > 0) {
    report.entities.forEach((e, i) => rows[i]!.splice(4, 0, n(e.adopted ?? 0)))
    if (rows.length > report.entities.length) rows[rows.length - 1]!.splice(4, 0, n(adopted))
  }
  const lines: Array<string> = []
  lines.push(
    `Pipeline ${report.pipeline}${report.dryRun ? " (dry run: nothing was written)" : ""} — run ${report.runId}`,
  )
  lines.push("")
  lines.push(
    report.entities.length === 0
      ? "No entity was run."
      : Table.render(
          [
            { header: "ENTITY" },
            { header: "TARGET" },
            { header: "READ", ...right },
            { header: "CREATED", ...right },
            ...(adopted > 0 ? [{ header: "ADOPTED", ...right }] : []),
            { header: "UPDATED", ...right },
            { header: "UNCHANGED", ...right },
            { header: "SKIPPED", ...right },
            { header: "FAILED", ...right },
            { header: "DURATION", ...right },
          ],
          rows,
        ),
  )
  lines.push("")
  lines.push(`Status: ${statusText[report.status]} in ${Format.duration(report.durationMs)}`)
  if (report.error !== undefined) lines.push(`Error: ${report.error}`)
  if (report.status === "interrupted")
    lines.push(`Stopped before the end; run \`${command} run ${report.pipeline}\` again to continue.`)
  if (report.deadLetters > 0) {
    lines.push(
      `Dead letters: ${Format.count(report.deadLetters)}${report.dryRun ? " (in this dry run)" : ` — see \`${command} failures ${report.pipeline}\`, then \`${command} retry ${report.pipeline}\``}`,
    )
  } else lines.push("Dead letters: 0")
  lines.push(`State: ${report.stateLocation}`)
  return lines.join("\n")
}
