/**
 * How a REST endpoint spreads its records over pages. Paths (`meta.next_cursor`) are dotted
 * paths into the JSON body.
 *
 * Every style ends on its own signal (an empty page, no next token, no next link) and may be
 * given a `stop` condition read from the answer as well:
 * - `{ more: "additional_data.pagination.more_items_in_collection" }`: a boolean in the body;
 *   reading stops when it is `false`.
 * - `{ total: "meta.total" }`: the number of records in the collection; reading stops once that
 *   many have been read.
 * - `"shortPage"`: reading stops at a page holding fewer records than the page size.
 *
 * A page size may be asked for by name in every style (`size` and `sizeParam`, `limit` and
 * `limitParam` for offsets); the API may answer with fewer, which is why `more` and `total` are
 * safer than `"shortPage"` when the API caps its pages.
 */
export type Pagination = None | Page | Offset | CursorToken | NextUrl | LinkHeader

/** A condition read from each answer that ends the reading (see the module's comment). */
export type Stop = { readonly more: string } | { readonly total: string } | "shortPage"

/** A page size sent on the first request, as `?<sizeParam>=<size>`. */
export interface PageSize {
  readonly size?: number | undefined
  readonly sizeParam?: string | undefined
}

/** One request returns everything. */
export interface None {
  readonly _tag: "None"
}

/**
 * `?page=1&per_page=100`, `?page=2...`: stops at an empty page, and by default at one shorter
 * than `size` (when `size` is given); a `stop` condition replaces the short-page rule.
 */
export interface Page extends PageSize {
  readonly _tag: "Page"
  readonly param: string
  readonly first: number
  readonly stop?: Stop | undefined
}

/**
 * `?offset=0&limit=100`, `?offset=100...`: stops at an empty page, and by default at one shorter
 * than `limit`; a `stop` condition replaces the short-page rule (the next offset is always the
 * current one plus the records received).
 */
export interface Offset {
  readonly _tag: "Offset"
  readonly offsetParam: string
  readonly limitParam: string
  readonly limit: number
  readonly stop?: Stop | undefined
}

/**
 * A token in the body (`meta.next_cursor`, a string or a number) sent back as `?cursor=...`;
 * stops when it is absent, `null` or empty, or when `stop` says so.
 */
export interface CursorToken extends PageSize {
  readonly _tag: "CursorToken"
  readonly param: string
  readonly next: string
  readonly stop?: Stop | undefined
}

/** The next page's URL in the body (`links.next`), absolute or relative; stops when absent or when `stop` says so. */
export interface NextUrl extends PageSize {
  readonly _tag: "NextUrl"
  readonly next: string
  readonly stop?: Stop | undefined
}

/** The next page's URL in the `Link` header (`<...>; rel="next"`, RFC 8288); stops when absent or when `stop` says so. */
export interface LinkHeader extends PageSize {
  readonly _tag: "LinkHeader"
  readonly stop?: Stop | undefined
}

/** Options every style takes besides its own. */
export interface Common {
  /** Ends the reading on a condition read from the answer. */
  readonly stop?: Stop | undefined
}

export const none: None = { _tag: "None" }

/** `Pagination.page({ size: 100 })`: `?page=1&per_page=100`, then `page=2`, ... */
export const page = (
  options: Common & {
    readonly param?: string
    readonly first?: number
    readonly size?: number
    readonly sizeParam?: string
  } = {},
): Page => ({
  _tag: "Page",
  param: options.param ?? "page",
  first: options.first ?? 1,
  size: options.size,
  sizeParam: options.sizeParam ?? (options.size === undefined ? undefined : "per_page"),
  stop: options.stop,
})

/** `Pagination.offset({ offsetParam: "start", limit: 500 })`: `?start=0&limit=500`, then `start=500`, ... */
export const offset = (
  options: Common & {
    readonly offsetParam?: string
    readonly limitParam?: string
    readonly limit?: number
  } = {},
): Offset => ({
  _tag: "Offset",
  offsetParam: options.offsetParam ?? "offset",
  limitParam: options.limitParam ?? "limit",
  limit: options.limit ?? 100,
  stop: options.stop,
})

/** `Pagination.cursor({ next: "meta.next_cursor", size: 100, sizeParam: "limit" })`. */
export const cursor = (
  options: Common & PageSize & { readonly param?: string; readonly next: string },
): CursorToken => ({
  _tag: "CursorToken",
  param: options.param ?? "cursor",
  next: options.next,
  size: options.size,
  sizeParam: options.sizeParam ?? (options.size === undefined ? undefined : "limit"),
  stop: options.stop,
})

/** `Pagination.nextUrl("links.next")`, optionally with a page size for the first request. */
export const nextUrl = (next: string, options: Common & PageSize = {}): NextUrl => ({
  _tag: "NextUrl",
  next,
  size: options.size,
  sizeParam: options.sizeParam ?? (options.size === undefined ? undefined : "limit"),
  stop: options.stop,
})

/** The `Link` header with options: `Pagination.link({ size: 100, sizeParam: "per_page" })`. */
export const link = (options: Common & PageSize = {}): LinkHeader => ({
  _tag: "LinkHeader",
  size: options.size,
  sizeParam: options.sizeParam ?? (options.size === undefined ? undefined : "per_page"),
  stop: options.stop,
})

/** The `Link` header, no options. */
export const linkHeader: LinkHeader = { _tag: "LinkHeader" }
