/**
 * A small seeded PRNG (mulberry32): the same seed gives the same sequence on every platform, so a
 * seeded legacy database is reproducible row for row.
 */
export interface Random {
  /** A float in [0, 1). */
  readonly next: () => number
  /** An integer in [min, max], both inclusive. */
  readonly int: (min: number, max: number) => number
  /** True with probability `p`. */
  readonly chance: (p: number) => boolean
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  /** Picks by weight: `[[value, weight], ...]`. */
  readonly weighted: <A>(items: ReadonlyArray<readonly [A, number]>) => A
  /** `count` digits as text (may start with 0). */
  readonly digits: (count: number) => string
  /** `count` distinct indexes in [0, size), ascending. */
  readonly sample: (size: number, count: number) => ReadonlyArray<number>
}

export const make = (seed: number): Random => {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1))
  const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick,
    weighted: <A>(items: ReadonlyArray<readonly [A, number]>): A => {
      const total = items.reduce((sum, [, weight]) => sum + weight, 0)
      let roll = next() * total
      for (const [value, weight] of items) {
        roll -= weight
        if (roll < 0) return value
      }
      return items[items.length - 1]![0]
    },
    digits: (count) => {
      let out = ""
      for (let i = 0; i < count; i++) out += Math.floor(next() * 10)
      return out
    },
    sample: (size, count) => {
      const chosen = new Set<number>()
      const wanted = Math.min(size, count)
      while (chosen.size < wanted) chosen.add(int(0, size - 1))
      return [...chosen].sort((a, b) => a - b)
    },
  }
}
