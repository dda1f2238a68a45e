import { Effect, type Scope } from "effect"
import { type Reply, type Seen, serve, type TestServer } from "./server.js"

/**
 * A legacy CRM's REST API on 127.0.0.1, shaped like the awkward ones met in real migrations
 * (Pipedrive v1 and v2, Stripe-style lists):
 * - `GET /v1/organizations?start&limit`: `{ data, additional_data.pagination.more_items_in_collection }`,
 *   `data: null` past the end, pages capped at `maxPage` records whatever `limit` asks;
 * - `GET /v1/organizations/{id}/persons?start&limit`: the same, per organization (`data: null` when it has none);
 * - `GET /v2/persons?cursor&limit`: `{ data, additional_data.next_cursor }`, a token that may be a number;
 * - `GET /v2/deals?starting_after&limit`: `{ data, has_more }`, Stripe-style, the cursor being the last id;
 * - every list takes `updated_since` in RFC 3339 only (400 otherwise), keeps records updated at or
 *   after it and sorts by `update_time`, then `id`; times are written `2020-01-07 05:05:08` (UTC);
 * - `GET /v3/organizations?page&per_page`: numbered pages, the next one in `links.next` and the `Link` header;
 * - the token goes in `api_token` in the query, `X-Api-Key`, `Authorization: Bearer`, Basic auth as
 *   `crm-user`, or is the secret of OAuth2 client `client-1` at `/oauth/token`; `throttle(n)` answers the next n requests 429 with `Retry-After: 1`.
 */
export interface Organization {
  readonly id: number
  readonly name: string
  readonly owner_id: number
  update_time: string
}
export interface Person {
  readonly id: number
  readonly org_id: number
  name: string
  update_time: string
}
export interface Deal {
  readonly id: number
  title: string
  update_time: string
}

export interface LegacyApi {
  readonly url: string
  readonly token: string
  readonly server: TestServer
  readonly organizations: Array<Organization>
  readonly persons: Array<Person>
  readonly deals: Array<Deal>
  /** Answers the next `n` requests with 429 and `Retry-After: 1`. */
  readonly throttle: (n: number) => void
  /** Requests answered 429 so far. */
  readonly throttled: () => number
}

const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/

/** `2020-01-07 05:05:08` as milliseconds (UTC). */
const timeOf = (text: string) => Date.parse(`${text.replace(" ", "T")}Z`)

/** The time `minutes` after 2020-01-07 05:00:00 UTC, as the API writes it. */
export const at = (minutes: number): string =>
  new Date(Date.UTC(2020, 0, 7, 5, minutes))
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "")

export const seed = () => {
  const organizations: Array<Organization> = Array.from({ length: 7 }, (_, i) => ({
    id: i + 1,
    name: ["Acme", "Zoë GmbH", "日本株式会社", "Beta", "Gamma 🚀", "Delta", "Epsilon"][i]!,
    owner_id: (i % 2) + 1,
    update_time: at(i),
  }))
  // Organizations 3 and 6 have nobody; the others one to three persons each.
  const persons: Array<Person> = []
  for (const org of organizations)
    for (let n = 0; n < (org.id % 3 === 0 ? 0 : (org.id % 3) + 1); n++)
      persons.push({
        id: org.id * 10 + n,
        org_id: org.id,
        name: `person ${n} of ${org.name}`,
        update_time: at(10 + persons.length),
      })
  const deals: Array<Deal> = Array.from({ length: 8 }, (_, i) => ({
    id: 100 + i,
    title: `deal ${i}`,
    update_time: at(30 + Math.floor(i / 2)),
  }))
  return { organizations, persons, deals }
}

export const make = (maxPage = 3): Effect.Effect<LegacyApi, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { organizations, persons, deals } = seed()
    const token = "pd-secret-token"
    let throttle = 0
    let throttled = 0

    const select = <A extends { readonly id: number; readonly update_time: string }>(
      req: Seen,
      rows: ReadonlyArray<A>,
    ): ReadonlyArray<A> | Reply => {
      const since = req.url.searchParams.get("updated_since")
      if (since !== null && !rfc3339.test(since))
        return {
          status: 400,
          body: { success: false, error: `updated_since must be RFC 3339, got ${JSON.stringify(since)}` },
        }
      const from = since === null ? Number.NEGATIVE_INFINITY : Date.parse(since)
      return rows
        .filter((r) => timeOf(r.update_time) >= from)
        .sort((a, b) => timeOf(a.update_time) - timeOf(b.update_time) || a.id - b.id)
    }

    const v1Page = (req: Seen, rows: ReadonlyArray<unknown>): Reply => {
      const start = Number(req.url.searchParams.get("start") ?? 0)
      const limit = Math.min(Number(req.url.searchParams.get("limit") ?? 100), maxPage)
      const data = rows.slice(start, start + limit)
      const more = start + limit < rows.length
      return {
        body: {
          success: true,
          data: data.length === 0 ? null : data,
          additional_data: {
            pagination: {
              start,
              limit,
              total: rows.length,
              more_items_in_collection: more,
              ...(more ? { next_start: start + limit } : {}),
            },
          },
        },
      }
    }

    const basic = `Basic ${Buffer.from(`crm-user:${token}`).toString("base64")}`
    let issued: string | undefined
    const authorized = (req: Seen) =>
      req.url.searchParams.get("api_token") === token ||
      req.headers["x-api-key"] === token ||
      req.headers.authorization === `Bearer ${token}` ||
      req.headers.authorization === basic ||
      (issued !== undefined && req.headers.authorization === `Bearer ${issued}`)

    const handler = (req: Seen): Reply => {
      if (req.url.pathname === "/oauth/token") {
        if (req.headers.authorization !== `Basic ${Buffer.from(`client-1:${token}`).toString("base64")}`)
          return { status: 401, body: { error: "invalid_client" } }
        issued = `issued-${Date.now()}`
        return { body: { access_token: issued, token_type: "bearer", expires_in: 3600 } }
      }
      if (!authorized(req)) return { status: 401, body: { success: false, error: "unauthorized" } }
      if (throttle > 0) {
        throttle--
        throttled++
        return {
          status: 429,
          headers: { "retry-after": "1" },
          body: { success: false, error: "rate limited" },
        }
      }
      const path = req.url.pathname
      const limit = Math.min(Number(req.url.searchParams.get("limit") ?? 100), maxPage)
      if (path === "/v1/organizations") {
        const rows = select(req, organizations)
        return Array.isArray(rows) ? v1Page(req, rows) : (rows as Reply)
      }
      const children = /^\/v1\/organizations\/(\d+)\/persons$/.exec(path)
      if (children) {
        const rows = select(
          req,
          persons.filter((p) => p.org_id === Number(children[1])),
        )
        return Array.isArray(rows) ? v1Page(req, rows) : (rows as Reply)
      }
      if (path === "/v2/persons") {
        const rows = select(req, persons)
        if (!Array.isArray(rows)) return rows as Reply
        const from = Number(req.url.searchParams.get("cursor") ?? 0)
        const next = from + limit < rows.length ? from + limit : null
        return {
          body: {
            success: true,
            data: rows.slice(from, from + limit),
            additional_data: { next_cursor: next },
          },
        }
      }
      if (path === "/v2/deals") {
        const rows = select(req, deals)
        if (!Array.isArray(rows)) return rows as Reply
        const after = req.url.searchParams.get("starting_after")
        const from = after === null ? 0 : rows.findIndex((d) => d.id === Number(after)) + 1
        const data = rows.slice(from, from + limit)
        // The cursor to go on from is always there, also on the last page: only has_more says it is the end.
        return { body: { data, has_more: from + limit < rows.length, last_id: data.at(-1)?.id ?? after } }
      }
      if (path === "/v3/organizations") {
        // Numbered pages, with the next page both as a link in the body and in the Link header.
        const rows = select(req, organizations)
        if (!Array.isArray(rows)) return rows as Reply
        const page = Number(req.url.searchParams.get("page") ?? 1)
        const size = Math.min(Number(req.url.searchParams.get("per_page") ?? 100), maxPage)
        const next = page * size < rows.length ? `/v3/organizations?page=${page + 1}&per_page=${size}` : null
        return {
          headers: next === null ? {} : { link: `<${next}>; rel="next"` },
          body: {
            data: rows.slice((page - 1) * size, page * size),
            links: { next },
            meta: { total: rows.length },
          },
        }
      }
      return { status: 404, body: { success: false, error: `no route ${path}` } }
    }

    const server = yield* serve(handler)
    return {
      url: server.url,
      token,
      server,
      organizations,
      persons,
      deals,
      throttle: (n) => {
        throttle = n
      },
      throttled: () => throttled,
    }
  })
