/**
 * Injected faults, drawn from a seeded generator so a run can be replayed: HTTP 500, HTTP 503, and a
 * connection reset before the items are created or after (the case that makes duplicates).
 * Resets only hit write methods; 500 and 503 hit any method.
 */

export interface FaultConfig {
  /** Probability of a 500 `INTERNAL_SERVER_ERROR`. */
  readonly error500?: number
  /** Probability of a 503 `QUERY_LIMIT_EXCEEDED` that the rate limit did not cause. */
  readonly error503?: number
  /** Probability that a write request's connection is destroyed before anything is created. */
  readonly resetBeforeCommit?: number
  /** Probability that a write request's items are created and then the connection is destroyed. */
  readonly resetAfterCommit?: number
}

export type FaultKind = "error500" | "error503" | "resetBeforeCommit" | "resetAfterCommit"

export const kinds: ReadonlyArray<FaultKind> = [
  "error500",
  "error503",
  "resetBeforeCommit",
  "resetAfterCommit",
]

export const none: FaultConfig = {}

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Draws the fault, if any, for one request. One draw per request keeps runs reproducible. */
export class Injector {
  #random: () => number
  #config: FaultConfig

  constructor(
    config: FaultConfig,
    readonly seed: number,
  ) {
    this.#config = config
    this.#random = prng(seed)
  }

  get config(): FaultConfig {
    return this.#config
  }

  set(config: FaultConfig): void {
    this.#config = config
  }

  reseed(seed: number = this.seed): void {
    this.#random = prng(seed)
  }

  draw(isWrite: boolean): FaultKind | undefined {
    const c = this.#config
    const total =
      (c.error500 ?? 0) + (c.error503 ?? 0) + (c.resetBeforeCommit ?? 0) + (c.resetAfterCommit ?? 0)
    if (total <= 0) return undefined
    const r = this.#random()
    let edge = 0
    for (const kind of kinds) {
      edge += c[kind] ?? 0
      if (r < edge) {
        if ((kind === "resetBeforeCommit" || kind === "resetAfterCommit") && !isWrite) return undefined
        return kind
      }
    }
    return undefined
  }
}

const aliases: Readonly<Record<string, FaultKind>> = {
  "500": "error500",
  error500: "error500",
  "503": "error503",
  error503: "error503",
  resetbefore: "resetBeforeCommit",
  resetbeforecommit: "resetBeforeCommit",
  "reset-before": "resetBeforeCommit",
  resetafter: "resetAfterCommit",
  resetaftercommit: "resetAfterCommit",
  "reset-after": "resetAfterCommit",
}

/**
 * Parses the command line form `500=0.01,503=0.02,resetBefore=0.01,resetAfter=0.005`
 * (keys are case-insensitive; `error500`, `resetBeforeCommit`, `reset-before` are accepted too).
 */
export const parse = (text: string): FaultConfig | { readonly error: string } => {
  const out: Record<string, number> = {}
  for (const part of text.split(",").map((s) => s.trim())) {
    if (part === "") continue
    const [key, value] = part.split("=")
    const kind = aliases[(key ?? "").trim().toLowerCase()]
    const p = Number(value)
    if (kind === undefined) return { error: `unknown fault "${key}" (use 500, 503, resetBefore, resetAfter)` }
    if (value === undefined || !Number.isFinite(p) || p < 0 || p > 1) {
      return { error: `fault "${key}" needs a probability between 0 and 1` }
    }
    out[kind] = p
  }
  return out
}
