/** Plain-text tables for the terminal: one header row, columns padded, numbers right-aligned. */

export type Align = "left" | "right"

export interface Column {
  readonly header: string
  readonly align?: Align | undefined
}

/** Renders rows under their headers; the last column is not padded so long messages do not leave trailing spaces. */
export const render = (
  columns: ReadonlyArray<Column>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
): string => {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? ""
        if (i === columns.length - 1 && c.align !== "right") return cell
        return c.align === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)
      })
      .join("  ")
      .trimEnd()
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join("\n")
}
