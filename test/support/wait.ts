import { Effect } from "effect"

/**
 * Waits for `check` to hold, looking every 100 ms, for something done by other processes or by
 * pg-boss in the database (a clock of our own cannot speed those up); fails after `timeoutMs`
 * with what it waited for and the end of `output`.
 */
export const waitFor = (
  what: string,
  check: () => Promise<boolean> | boolean,
  output: () => string,
  timeoutMs: number,
) =>
  Effect.promise(async () => {
    const until = Date.now() + timeoutMs
    while (Date.now() < until) {
      if (await check()) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`timed out waiting for ${what}:\n${output().slice(-4000)}`)
  })
