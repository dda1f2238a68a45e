/** A duration for people: `420ms`, `4.2s`, `3m 12s`, `2h 05m`. */
export const duration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return "-"
  if (ms < 1_000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`
  const seconds = Math.round(ms / 1_000)
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, "0")}s`
  const minutes = Math.round(seconds / 60)
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`
}

/** A count with thousands separators: `12,345`. */
export const count = (n: number): string => n.toLocaleString("en-US")

/** `1 dead letter`, `2 dead letters`. */
export const plural = (n: number, word: string, many = `${word}s`): string =>
  `${count(n)} ${n === 1 ? word : many}`

/** A timestamp in UTC without milliseconds: `2026-11-25 10:28:18Z`. */
export const timestamp = (date: Date): string => `${date.toISOString().slice(0, 19).replace("T", " ")}Z`

const collator = new Intl.Collator("en", { numeric: true })

/** Compares keys as people read them: `2` before `10`, `a2` before `a10`. */
export const naturalCompare = (a: string, b: string): number => collator.compare(a, b)

/** A word a shell reads as it is (`./x.ts`), or the word in single quotes (`'my pipes/x.ts'`). */
export const shellWord = (word: string): string =>
  /^[\w./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
