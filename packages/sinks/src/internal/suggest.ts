/** "Did you mean": the closest real field name to a misspelt one. */

export const levenshtein = (a: string, b: string): number => {
  if (a === b) return 0
  if (a.length === 0) return b.length
  if (b.length === 0) return a.length
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost)
    }
    prev = cur
  }
  return prev[b.length]!
}

const squash = (s: string) => s.replace(/[_\s-]/g, "").toLowerCase()

/**
 * The known name `name` most likely stands for: the same name in another case or spelling
 * (`COMPANY_ID` -> `companyId`, via `upperNames`), else the nearest by edit distance when it is
 * close enough to be a typo (`titel` -> `title`).
 */
export const closest = (
  name: string,
  known: ReadonlyArray<string>,
  upperNames: ReadonlyMap<string, string> = new Map(),
): string | undefined => {
  const byUpper = upperNames.get(name.toUpperCase())
  if (byUpper !== undefined) return byUpper
  const s = squash(name)
  const same = known.find((k) => squash(k) === s)
  if (same !== undefined) return same
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const k of known) {
    const d = levenshtein(s, squash(k))
    if (d < bestDistance) {
      best = k
      bestDistance = d
    }
  }
  const allowed = Math.max(2, Math.floor(name.length / 3))
  return bestDistance <= allowed ? best : undefined
}
