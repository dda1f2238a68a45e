/**
 * How a REST endpoint spreads its records over pages. Paths (`meta.next_cursor`) are dotted
 * paths into the JSON body.
 */
export type Pagination = None | Page | Offset | CursorToken | NextUrl | LinkHeader

/** One request returns everything. */
export interface None {
  readonly _tag: "None"
}

/** `?page=1&per_page=100`, `?page=2...`: stops at an empty page or one shorter than `size`. */
export interface Page {
  readonly _tag: "Page"
  readonly param: string
  readonly first: number
  readonly size?: number | undefined
  readonly sizeParam?: string | undefined
}

/** `?offset=0&limit=100`, `?offset=100...`: stops at an empty page or one shorter than `limit`. */
export interface Offset {
  readonly _tag: "Offset"
  readonly offsetParam: string
  readonly limitParam: string
  readonly limit: number
}

/** A token in the body (`meta.next_cursor`) sent back as `?cursor=...`; stops when it is absent or empty. */
export interface CursorToken {
  readonly _tag: "CursorToken"
  readonly param: string
  readonly next: string
}

/** The next page's URL in the body (`links.next`), absolute or relative; stops when absent. */
export interface NextUrl {
  readonly _tag: "NextUrl"
  readonly next: string
}

/** The next page's URL in the `Link` header (`<...>; rel="next"`, RFC 8288); stops when absent. */
export interface LinkHeader {
  readonly _tag: "LinkHeader"
}

export const none: None = { _tag: "None" }

export const page = (
  options: {
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
})

export const offset = (
  options: { readonly offsetParam?: string; readonly limitParam?: string; readonly limit?: number } = {},
): Offset => ({
  _tag: "Offset",
  offsetParam: options.offsetParam ?? "offset",
  limitParam: options.limitParam ?? "limit",
  limit: options.limit ?? 100,
})

export const cursor = (options: { readonly param?: string; readonly next: string }): CursorToken => ({
  _tag: "CursorToken",
  param: options.param ?? "cursor",
  next: options.next,
})

export const nextUrl = (next: string): NextUrl => ({ _tag: "NextUrl", next })

export const linkHeader: LinkHeader = { _tag: "LinkHeader" }
