/** OAuth-style credentials: access tokens that expire, refresh tokens that rotate. */
import { randomBytes } from "node:crypto"

export interface TokenPair {
  readonly accessToken: string
  readonly refreshToken: string
  /** Seconds the access token lives. */
  readonly expiresIn: number
  /** Unix time (seconds) the access token expires. */
  readonly expires: number
  readonly userId: number
}

export type Check =
  | { readonly _tag: "Valid"; readonly userId: number }
  | { readonly _tag: "Expired" }
  | { readonly _tag: "Unknown" }

const token = () => randomBytes(16).toString("hex")

export class Tokens {
  readonly #access = new Map<string, { userId: number; expiresAtMs: number }>()
  readonly #refresh = new Map<string, { userId: number }>()

  constructor(readonly ttlSeconds: number) {}

  issue(userId: number, nowMs: number): TokenPair {
    const accessToken = token()
    const refreshToken = token()
    const expiresAtMs = nowMs + this.ttlSeconds * 1000
    this.#access.set(accessToken, { userId, expiresAtMs })
    this.#refresh.set(refreshToken, { userId })
    return {
      accessToken,
      refreshToken,
      expiresIn: this.ttlSeconds,
      expires: Math.floor(expiresAtMs / 1000),
      userId,
    }
  }

  check(accessToken: string, nowMs: number): Check {
    const entry = this.#access.get(accessToken)
    if (entry === undefined) return { _tag: "Unknown" }
    return nowMs >= entry.expiresAtMs ? { _tag: "Expired" } : { _tag: "Valid", userId: entry.userId }
  }

  /** Exchanges a refresh token for a new pair; the old refresh token stops working. */
  refresh(refreshToken: string, nowMs: number): TokenPair | undefined {
    const entry = this.#refresh.get(refreshToken)
    if (entry === undefined) return undefined
    this.#refresh.delete(refreshToken)
    return this.issue(entry.userId, nowMs)
  }

  /** Makes one access token (or all of them) expired now. */
  expire(accessToken: string | undefined, nowMs: number): void {
    for (const [k, v] of this.#access) {
      if (accessToken === undefined || k === accessToken) v.expiresAtMs = Math.min(v.expiresAtMs, nowMs)
    }
  }

  clear(): void {
    this.#access.clear()
    this.#refresh.clear()
  }
}
