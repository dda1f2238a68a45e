import { Either, Option } from "effect"
import type * as Pagination from "../../Pagination.js"
import * as Body from "./body.js"
import type { Answer } from "./request.js"

/** Where the reading of one collection stands after a page. */
export interface Progress {
  /** Records received so far in this collection, the current page included. */
  readonly read: number
  /** Records on the current page. */
  readonly count: number
}

/** Sets the first request's paging parameters (page number, offset, page size). */
export const first = (pagination: Pagination.Pagination, url: URL): void => {
  switch (pagination._tag) {
    case "None":
      return
    case "Offset":
      url.searchParams.set(pagination.offsetParam, "0")
      url.searchParams.set(pagination.limitParam, String(pagination.limit))
      return
    case "Page":
      url.searchParams.set(pagination.param, String(pagination.first))
      break
  }
  if (pagination.size !== undefined && pagination.sizeParam)
    url.searchParams.set(pagination.sizeParam, String(pagination.size))
}

const sizeOf = (pagination: Pagination.Pagination): number | undefined =>
  pagination._tag === "None" ? undefined : pagination._tag === "Offset" ? pagination.limit : pagination.size

/** A boolean as APIs write it: `true`, `"true"`, `1`. */
const flag = (value: unknown): boolean | undefined =>
  typeof value === "boolean"
    ? value
    : value === "true" || value === 1 || value === "1"
      ? true
      : value === "false" || value === 0 || value === "0"
        ? false
        : undefined

/**
 * Whether `stop` ends the reading after this page; a message when the answer does not hold
 * what the condition reads. An empty page without the value is taken as the end.
 */
const stopped = (
  pagination: Pagination.Pagination,
  stop: Pagination.Stop,
  answer: Answer,
  progress: Progress,
): Either.Either<boolean, string> => {
  if (stop === "shortPage") {
    const size = sizeOf(pagination)
    return size === undefined
      ? Either.left(`the stop condition "shortPage" needs a page size (size)`)
      : Either.right(progress.count < size)
  }
  if ("more" in stop) {
    const value = Body.at(answer.body, stop.more)
    const more = flag(value)
    if (more !== undefined) return Either.right(!more)
    return progress.count === 0
      ? Either.right(true)
      : Either.left(`expected a boolean at "${stop.more}" (the stop condition), found ${Body.kindOf(value)}`)
  }
  const value = Body.at(answer.body, stop.total)
  const total = typeof value === "number" ? value : typeof value === "string" ? Number(value) : Number.NaN
  if (Number.isFinite(total)) return Either.right(progress.read >= total)
  return progress.count === 0
    ? Either.right(true)
    : Either.left(`expected a number at "${stop.total}" (the stop condition), found ${Body.kindOf(value)}`)
}

/**
 * The URL of the page after `answer`, none at the end, or a message saying why the answer
 * cannot be followed.
 */
export const next = (
  pagination: Pagination.Pagination,
  answer: Answer,
  progress: Progress,
): Either.Either<Option.Option<URL>, string> => {
  if (pagination._tag === "None") return Either.right(Option.none())
  // Numbered pages and offsets have no end marker of their own but the empty page.
  if ((pagination._tag === "Page" || pagination._tag === "Offset") && progress.count === 0)
    return Either.right(Option.none())
  const stop: Pagination.Stop | undefined =
    pagination.stop ??
    (pagination._tag === "Offset" || (pagination._tag === "Page" && pagination.size !== undefined)
      ? "shortPage"
      : undefined)
  if (stop !== undefined) {
    const end = stopped(pagination, stop, answer, progress)
    if (Either.isLeft(end) || end.right) return Either.map(end, () => Option.none())
  }
  const url = new URL(answer.url)
  switch (pagination._tag) {
    case "Page": {
      const current = Number(url.searchParams.get(pagination.param) ?? pagination.first)
      url.searchParams.set(pagination.param, String(current + 1))
      return Either.right(Option.some(url))
    }
    case "Offset": {
      const current = Number(url.searchParams.get(pagination.offsetParam) ?? 0)
      url.searchParams.set(pagination.offsetParam, String(current + progress.count))
      return Either.right(Option.some(url))
    }
    case "CursorToken": {
      const token = Body.at(answer.body, pagination.next)
      if (token === undefined || token === null || token === "") return Either.right(Option.none())
      url.searchParams.set(pagination.param, String(token))
      return Either.right(Option.some(url))
    }
    case "NextUrl": {
      const target = Body.at(answer.body, pagination.next)
      return Either.right(
        typeof target === "string" && target !== ""
          ? Option.some(new URL(target, answer.url))
          : Option.none(),
      )
    }
    case "LinkHeader": {
      const target = Body.nextLink(answer.headers.link)
      return Either.right(target ? Option.some(new URL(target, answer.url)) : Option.none())
    }
  }
}
