/** The report printed at the end of a run: a table per entity, then the outcome and what to do next. */
import type * as Report from "@b24etl/core/Report"
import * as Format from "./internal/format.js"
import * as Table from "./internal/table.js"

const statusText: Record<Report.RunReport["status"], string> = {
  succeeded: "succeeded",
  partial: "done with dead letters",
  failed: "failed",
  interrupted: "interrupted",
  crashed: "crashed",
  running: "running",
}

/**
 * The run report as text. The hints use `command`, how the user runs the CLI (`pnpm pipeline`),
 * and `pipeline`, how they named the pipeline (its name, or the path of its file).
 */
export const render = (
  report: Report.RunReport,
  command = "pnpm pipeline",
  pipeline: string = report.pipeline,
): string => {
  const n = Format.count
  // The DELETED column only when a `delete` policy deleted something (older reports have no count).
  const deletedOf = (e: Report.EntityReport): number => e.deleted ?? 0
  const showDeleted = report.entities.some((e) => deletedOf(e) > 0)
  const warningsOf = (e: Report.EntityReport): number => e.warnings ?? 0
  const warnings = report.entities.reduce((s, e) => s + warningsOf(e), 0)
  const rows = report.entities.map((e) => [
    e.entity,
    e.target,
    n(e.read),
    n(e.created),
    n(e.updated),
    ...(showDeleted ? [n(deletedOf(e))] : []),
    n(e.unchanged),
    n(e.skipped),
    n(e.failed),
    ...(warnings > 0 ? [n(warningsOf(e))] : []),
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
      ...(showDeleted ? [n(report.entities.reduce((s, e) => s + deletedOf(e), 0))] : []),
      sum("unchanged"),
      sum("skipped"),
      sum("failed"),
      ...(warnings > 0 ? [n(warnings)] : []),
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
            ...(showDeleted ? [{ header: "DELETED", ...right }] : []),
            { header: "UNCHANGED", ...right },
            { header: "SKIPPED", ...right },
            { header: "FAILED", ...right },
            ...(warnings > 0 ? [{ header: "WARNINGS", ...right }] : []),
            { header: "DURATION", ...right },
          ],
          rows,
        ),
  )
  lines.push("")
  lines.push(`Status: ${statusText[report.status]} in ${Format.duration(report.durationMs)}`)
  if (report.error !== undefined) lines.push(`Error: ${report.error}`)
  if (report.status === "interrupted")
    lines.push(`Stopped before the end; run \`${command} run ${pipeline}\` again to continue.`)
  for (const w of report.warnings ?? []) lines.push(`Warning: ${w.message}`)
  if (report.deadLetters > 0) {
    // Outstanding ones from earlier runs do not make this run partial: say so.
    const older = report.status === "succeeded" && !report.dryRun ? " (from earlier runs)" : ""
    lines.push(
      `Dead letters: ${Format.count(report.deadLetters)}${older}${report.dryRun ? " (in this dry run)" : ` — see \`${command} failures ${pipeline}\`, then \`${command} retry ${pipeline}\``}`,
    )
  } else lines.push("Dead letters: 0")
  if (warnings > 0)
    lines.push(
      `Warnings: ${Format.count(warnings)} values dropped by field helpers (duplicate, empty or invalid)${report.dryRun ? "" : ` — see \`${command} failures ${report.pipeline} --warnings\``}`,
    )
  lines.push(`State: ${report.stateLocation}`)
  return lines.join("\n")
}
