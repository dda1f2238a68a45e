import { open, readFile, unlink } from "node:fs/promises"
import { hostname } from "node:os"

/**
 * PGlite opens a data directory that another process has open without a word, and two writers
 * corrupt it; SQLite in WAL mode with an exclusive lock (see `makeSqlite`) keeps its WAL index in
 * the process's memory, so it must be the only process too, and its own lock (a directory beside
 * the file) stays behind when the process is killed. So the embedded store takes
 * `<directory>.lock` (created exclusively, holding the owner's host and pid) for as long as it is
 * open. A lock whose process is gone (killed, crashed) is stale and taken over.
 */
export interface DirectoryLock {
  readonly path: string
  readonly release: () => Promise<void>
}

interface Holder {
  readonly host: string
  readonly pid: number
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as { code?: unknown }).code === "EPERM"
  }
}

const readHolder = async (path: string): Promise<Holder | undefined> => {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as Partial<Holder>
    return typeof parsed.host === "string" && typeof parsed.pid === "number"
      ? { host: parsed.host, pid: parsed.pid }
      : undefined
  } catch {
    return undefined
  }
}

export class DirectoryInUse extends Error {}

export const take = async (directory: string): Promise<DirectoryLock> => {
  const path = `${directory}.lock`
  const me: Holder = { host: hostname(), pid: process.pid }
  for (let round = 0; round < 3; round++) {
    try {
      const file = await open(path, "wx")
      try {
        await file.writeFile(JSON.stringify(me))
      } finally {
        await file.close()
      }
      return {
        path,
        release: async () => {
          const holder = await readHolder(path)
          if (holder?.host === me.host && holder.pid === me.pid) await unlink(path).catch(() => undefined)
        },
      }
    } catch (e) {
      if ((e as { code?: unknown }).code !== "EEXIST") throw e
    }
    const holder = await readHolder(path)
    // A file still being written by its creator reads as nothing: give it a moment.
    if (holder === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      if ((await readHolder(path)) !== undefined) continue
    } else if (holder.host === me.host && isAlive(holder.pid)) {
      throw new DirectoryInUse(
        `${directory} is open in process ${holder.pid}${holder.pid === me.pid ? " (this one)" : ""}; the embedded state store allows one process at a time (use PostgreSQL or MySQL to share state)`,
      )
    } else if (holder.host !== me.host) {
      throw new DirectoryInUse(
        `${directory} is locked by process ${holder.pid} on ${holder.host}; if that process is gone, delete ${path}`,
      )
    }
    await unlink(path).catch(() => undefined)
  }
  throw new DirectoryInUse(`${directory}: could not take ${path}`)
}
