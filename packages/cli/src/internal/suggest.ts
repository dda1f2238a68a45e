/** "Did you mean …?" for a mistyped command, option, pipeline or entity name. */

/** Edits (insert, delete, replace, swap two neighbours) between two words. */
const distance = (a: string, b: string): number => {
  const d: Array<Array<number>> = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

/**
 * The known word closest to `word`, when it is close enough to be a typo: at most a third of its
 * letters wrong (at least one), or `word` is the start of exactly one known word.
 */
export const closest = (word: string, known: ReadonlyArray<string>): string | undefined => {
  const w = word.toLowerCase()
  const prefixed = known.filter((k) => w.length >= 2 && k.toLowerCase().startsWith(w))
  if (prefixed.length === 1) return prefixed[0]
  let best: { readonly word: string; readonly distance: number } | undefined
  for (const k of known) {
    const dist = distance(w, k.toLowerCase())
    if (best === undefined || dist < best.distance) best = { word: k, distance: dist }
  }
  if (best === undefined) return undefined
  return best.distance <= Math.max(1, Math.floor(Math.max(w.length, best.word.length) / 3))
    ? best.word
    : undefined
}

/** ` (did you mean "x"?)` when a known word is close, else the empty string. */
export const didYouMean = (word: string, known: ReadonlyArray<string>, quote = '"'): string => {
  const match = closest(word, known)
  return match === undefined ? "" : `; did you mean ${quote}${match}${quote}?`
}
