/**
 * One portal's request handling, synchronous and clock-free (time is passed in): routing, auth,
 * the rate limit, faults, operating time, the methods and `batch`, and the `time` object.
 * The HTTP server in `Emulator.ts` feeds it and writes its replies.
 */
import { Either } from "effect"
import type * as EntityTypes from "../EntityTypes.js"
import * as Faults from "../Faults.js"
import * as FormBody from "../FormBody.js"
import * as Methods from "../Methods.js"
import * as OperatingTime from "../OperatingTime.js"
import * as RateLimit from "../RateLimit.js"
import * as RestError from "../RestError.js"
import * as Store from "../Store.js"
import * as OAuth from "./oauth.js"
import * as V from "./values.js"

export interface PortalOptions {
  readonly webhookUserId: number
  readonly webhookCode: string
  readonly adminUserIds: ReadonlyArray<number>
  readonly rateLimit: RateLimit.RateLimitConfig
  readonly operatingTime: OperatingTime.OperatingTimeConfig
  readonly faults: Faults.FaultConfig
  readonly seed: number
  readonly types: ReadonlyMap<number, EntityTypes.EntityType>
  readonly clientId: string
  readonly clientSecret: string
  readonly accessTokenTtlSeconds: number
  readonly strictImportOrder: boolean
  readonly batchImportInBatch: boolean
  readonly currency: string
  readonly requestLogLimit: number
  readonly maxBatchCommands: number
}

export interface Request {
  readonly httpMethod: string
  /** Path and query string. */
  readonly url: string
  readonly contentType: string | undefined
  readonly body: string
}

export type Reply =
  | { readonly _tag: "Json"; readonly status: number; readonly body: unknown }
  /** Destroy the connection without answering. */
  | { readonly _tag: "Reset" }

/** One request as the log keeps it (no credentials). */
export interface RequestLogEntry {
  readonly seq: number
  /** Unix milliseconds on the emulator's clock. */
  readonly at: number
  readonly httpMethod: string
  /** The REST method (`crm.item.batchImport`), `oauth.token`, or the path when unrouted. */
  readonly method: string
  readonly auth: "webhook" | "oauth" | "none"
  /** HTTP status, or "reset" when the connection was destroyed. */
  readonly status: number | "reset"
  readonly error?: string
  readonly fault?: Faults.FaultKind
  /** Items in the request (`data` of a batchImport, 1 for single writes, commands of a batch). */
  readonly items: number
  /** Commands of a `batch`, by method. */
  readonly commands?: ReadonlyArray<string>
  /** Items the request created, of every type (nested commands of a `batch` included). */
  readonly created?: number
}

export interface Counters {
  readonly requests: number
  /** Answers by HTTP status. */
  readonly byStatus: Readonly<Record<string, number>>
  /** Calls by REST method (a batch counts as `batch`, its commands under their own names in `byCommand`). */
  readonly byMethod: Readonly<Record<string, number>>
  readonly byCommand: Readonly<Record<string, number>>
  /** 503 answers, from the rate limit and from injected faults. */
  readonly status503: number
  /** 503 answers from the rate limit alone. */
  readonly rateLimited: number
  /** 429 `OPERATION_TIME_LIMIT` answers. */
  readonly status429: number
  readonly faults: Readonly<Record<Faults.FaultKind, number>>
  /** Items created, by entityTypeId. */
  readonly createdByType: Readonly<Record<number, number>>
  /** Items currently stored, by entityTypeId. */
  readonly itemsByType: Readonly<Record<number, number>>
}

interface Caller {
  readonly kind: "webhook" | "oauth"
  readonly key: string
  readonly user: { readonly id: number; readonly isAdmin: boolean; readonly name: string }
}

const json = (status: number, body: unknown): Reply => ({ _tag: "Json", status, body })
const errorReply = (e: RestError.RestError): Reply => json(e.status, e.body)

const routeWebhook = /^\/rest\/(\d+)\/([^/]+)\/([^/?]+?)(?:\.json)?\/?$/
const routeOAuth = /^\/rest\/([^/?]+?)(?:\.json)?\/?$/
const routeToken = /^\/oauth\/token\/?$/

const parseBody = (req: Request): Either.Either<Record<string, unknown>, RestError.RestError> => {
  const text = req.body.trim()
  if (text === "") return Either.right({})
  const isJson = req.contentType?.includes("json") === true || text.startsWith("{")
  if (!isJson) return Either.right(FormBody.parse(text))
  try {
    const parsed: unknown = JSON.parse(text)
    return V.isObject(parsed)
      ? Either.right(parsed)
      : Either.left(RestError.invalidRequest("Invalid JSON body"))
  } catch {
    return Either.left(RestError.invalidRequest("Invalid JSON body"))
  }
}

const mutableCounters = () => ({
  requests: 0,
  byStatus: {} as Record<string, number>,
  byMethod: {} as Record<string, number>,
  byCommand: {} as Record<string, number>,
  status503: 0,
  rateLimited: 0,
  status429: 0,
  faults: { error500: 0, error503: 0, resetBeforeCommit: 0, resetAfterCommit: 0 } as Record<
    Faults.FaultKind,
    number
  >,
  createdByType: {} as Record<number, number>,
})

const bump = (record: Record<string, number>, key: string | number, by = 1) => {
  record[key] = (record[key] ?? 0) + by
}

/** The substitution `$result[key][a][b]` in a batch command, replaced by an earlier command's result. */
const resultReference = /\$result\[([^\]]+)\]((?:\[[^\]]*\])*)/g

export class Portal {
  readonly store: Store.Store
  readonly bucket: RateLimit.LeakyBucket
  readonly ledger: OperatingTime.Ledger
  readonly faults: Faults.Injector
  readonly tokens: OAuth.Tokens
  readonly #log: Array<RequestLogEntry> = []
  #seq = 0
  #counters = mutableCounters()
  /** Base URL, set once the server listens; used in OAuth answers. */
  baseUrl = ""

  constructor(readonly options: PortalOptions) {
    this.store = new Store.Store(options.types)
    this.bucket = new RateLimit.LeakyBucket(options.rateLimit)
    this.ledger = new OperatingTime.Ledger(options.operatingTime)
    this.faults = new Faults.Injector(options.faults, options.seed)
    this.tokens = new OAuth.Tokens(options.accessTokenTtlSeconds)
  }

  get requestLog(): ReadonlyArray<RequestLogEntry> {
    return [...this.#log]
  }

  counters(): Counters {
    const c = this.#counters
    return {
      ...c,
      byStatus: { ...c.byStatus },
      byMethod: { ...c.byMethod },
      byCommand: { ...c.byCommand },
      faults: { ...c.faults },
      createdByType: { ...c.createdByType },
      itemsByType: this.store.counts(),
    }
  }

  /** Empties the store, the log, the counters, the rate and time budgets, and replays the fault seed. */
  reset(): void {
    this.store.clear()
    this.#log.length = 0
    this.#seq = 0
    this.#counters = mutableCounters()
    this.bucket.reset()
    this.ledger.reset()
    this.faults.reseed()
  }

  #record(entry: Omit<RequestLogEntry, "seq">): void {
    this.#log.push({ seq: ++this.#seq, ...entry })
    if (this.#log.length > this.options.requestLogLimit) this.#log.shift()
    const status = entry.status === "reset" ? "reset" : String(entry.status)
    bump(this.#counters.byStatus, status)
    if (entry.status === 503) this.#counters.status503++
    if (entry.status === 429) this.#counters.status429++
    if (entry.fault !== undefined) this.#counters.faults[entry.fault]++
  }

  #timeObject(startMs: number, nowMs: number, processing: number, usage: OperatingTime.Usage) {
    const start = startMs / 1000
    const finish = nowMs / 1000 + processing
    return {
      start,
      finish,
      duration: finish - start,
      processing,
      date_start: V.formatDateTime(startMs),
      date_finish: V.formatDateTime(finish * 1000),
      operating: usage.operating,
      operating_reset_at: usage.resetAt,
    }
  }

  #isAdmin(userId: number) {
    return this.options.adminUserIds.includes(userId)
  }

  #authenticate(
    route: { kind: "webhook"; userId: number; code: string } | { kind: "oauth" },
    params: Record<string, unknown>,
    nowMs: number,
  ): Either.Either<Caller, RestError.RestError> {
    if (route.kind === "webhook") {
      if (route.userId !== this.options.webhookUserId || route.code !== this.options.webhookCode) {
        return Either.left(RestError.invalidCredentials())
      }
      return Either.right({
        kind: "webhook",
        key: `hook:${route.userId}`,
        user: { id: route.userId, isAdmin: this.#isAdmin(route.userId), name: "Admin" },
      })
    }
    const auth = params.auth
    if (typeof auth !== "string" || auth === "") return Either.left(RestError.noAuthFound())
    const check = this.tokens.check(auth, nowMs)
    switch (check._tag) {
      case "Unknown":
        return Either.left(RestError.noAuthFound())
      case "Expired":
        return Either.left(RestError.expiredToken())
      case "Valid":
        return Either.right({
          kind: "oauth",
          key: `app:${this.options.clientId}:${check.userId}`,
          user: { id: check.userId, isAdmin: this.#isAdmin(check.userId), name: "Admin" },
        })
    }
  }

  /** Handles one HTTP request at `nowMs` (the request arrived at `startMs`, before any latency). */
  handle(req: Request, startMs: number, nowMs: number): Reply {
    this.#counters.requests++
    const url = new URL(req.url, "http://portal")
    const path = url.pathname
    const base = { at: nowMs, httpMethod: req.httpMethod }

    if (routeToken.test(path)) {
      const reply = this.#token(url, req, nowMs)
      const status = reply._tag === "Json" ? reply.status : ("reset" as const)
      this.#record({ ...base, method: "oauth.token", auth: "none", status, items: 0 })
      return reply
    }

    const hook = routeWebhook.exec(path)
    const oauth = hook === null ? routeOAuth.exec(path) : null
    if (hook === null && oauth === null) {
      const reply = json(404, { error: "NOT_FOUND", error_description: "Not found" })
      this.#record({ ...base, method: path, auth: "none", status: 404, error: "NOT_FOUND", items: 0 })
      return reply
    }
    const method = decodeURIComponent((hook?.[3] ?? oauth?.[1])!)
    const lower = method.toLowerCase()
    const authKind = hook === null ? ("oauth" as const) : ("webhook" as const)
    const fail = (e: RestError.RestError, extra: Partial<RequestLogEntry> = {}): Reply => {
      this.#record({ ...base, method, auth: authKind, status: e.status, error: e.code, items: 0, ...extra })
      return errorReply(e)
    }

    const query = FormBody.parse(url.search)
    const body = parseBody(req)
    if (Either.isLeft(body)) return fail(body.left)
    const params = { ...query, ...body.right }

    const caller = this.#authenticate(
      hook === null
        ? { kind: "oauth" }
        : { kind: "webhook", userId: Number(hook[1]), code: decodeURIComponent(hook[2]!) },
      params,
      nowMs,
    )
    if (Either.isLeft(caller)) return fail(caller.left)

    if (!this.bucket.take(nowMs)) {
      this.#counters.rateLimited++
      return fail(RestError.queryLimitExceeded())
    }
    bump(this.#counters.byMethod, method)

    const isBatch = lower === "batch"
    const handler = Methods.methods.get(lower)
    if (!isBatch && handler === undefined) return fail(RestError.methodNotFound())
    const isWrite = isBatch || handler!.write
    const items = isBatch ? 0 : requestItems(lower, params)

    const fault = this.faults.draw(isWrite)
    if (fault === "error500") return fail(RestError.internalServerError(), { fault, items })
    if (fault === "error503") return fail(RestError.queryLimitExceeded(), { fault, items })
    if (fault === "resetBeforeCommit") {
      this.#record({ ...base, method, auth: authKind, status: "reset", fault, items })
      return { _tag: "Reset" }
    }

    const ledgerKey = `${caller.right.key}:${lower}`
    if (this.ledger.isBlocked(ledgerKey, nowMs)) return fail(RestError.operationTimeLimit(), { items })
    const maxSeconds = this.options.operatingTime.maxRequestSeconds
    if (!isBatch && this.ledger.cost(items) > maxSeconds) {
      return fail(RestError.requestTimeLimit(maxSeconds), { items })
    }

    const ctx: Methods.CallContext = {
      store: this.store,
      user: caller.right.user,
      nowMs,
      strictImportOrder: this.options.strictImportOrder,
      currency: this.options.currency,
    }
    const before = this.store.counts()
    const outcome = isBatch
      ? this.#batch(ctx, caller.right, params, startMs, nowMs)
      : handler!.run(ctx, method, params)
    const created = this.#countCreated(before)

    if (Either.isLeft(outcome)) return fail(outcome.left, { items })
    const { result, total, next, processing, charge, commands } = {
      processing: this.ledger.cost(outcome.right.items),
      charge: undefined as number | undefined,
      commands: undefined as ReadonlyArray<string> | undefined,
      ...outcome.right,
    }
    this.ledger.record(ledgerKey, nowMs, charge ?? processing)
    const time = this.#timeObject(startMs, nowMs, processing, this.ledger.usage(ledgerKey, nowMs))

    if (fault === "resetAfterCommit") {
      this.#record({
        ...base,
        method,
        auth: authKind,
        status: "reset",
        fault,
        items,
        ...(commands ? { commands } : {}),
      })
      return { _tag: "Reset" }
    }
    this.#record({
      ...base,
      method,
      auth: authKind,
      status: 200,
      items: isBatch ? (commands?.length ?? 0) : items,
      ...(commands ? { commands } : {}),
      ...(created > 0 ? { created } : {}),
    })
    return json(200, {
      result,
      ...(next === undefined ? {} : { next }),
      ...(total === undefined ? {} : { total }),
      time,
    })
  }

  /** Counts what a request created, by type, and returns the total. */
  #countCreated(before: Record<number, number>): number {
    const after = this.store.counts()
    let total = 0
    for (const [id, n] of Object.entries(after)) {
      const delta = n - (before[Number(id)] ?? 0)
      if (delta > 0) {
        bump(this.#counters.createdByType, id, delta)
        total += delta
      }
    }
    return total
  }

  #batch(
    ctx: Methods.CallContext,
    caller: Caller,
    params: Record<string, unknown>,
    startMs: number,
    nowMs: number,
  ): Either.Either<
    Methods.Outcome & { processing: number; charge: number; commands: ReadonlyArray<string> },
    RestError.RestError
  > {
    const { batchCharge, costPerCallSeconds, maxRequestSeconds } = this.options.operatingTime
    // Charged to `batch` (PR #539's measurement), the commands' time adds to the batch's own.
    const toBatch = batchCharge === "batch"
    const batchKey = `${caller.key}:batch`
    const cmd = params.cmd
    if (!V.isIterable(cmd)) return Either.left(RestError.missingParameter("cmd"))
    const entries = Array.isArray(cmd) ? cmd.map((v, i) => [String(i), v] as const) : Object.entries(cmd)
    if (entries.length > this.options.maxBatchCommands) return Either.left(RestError.batchLengthExceeded())
    const halt = V.isYes(params.halt) || params.halt === true
    const result: Record<string, unknown> = {}
    const errors: Record<string, unknown> = {}
    const totals: Record<string, unknown> = {}
    const nexts: Record<string, unknown> = {}
    const times: Record<string, unknown> = {}
    const commands: Array<string> = []
    let processing = 0
    for (const [key, raw] of entries) {
      const text = String(raw).replace(resultReference, (_m, ref: string, path: string) => {
        let v: unknown = result[ref]
        for (const seg of path.match(/\[([^\]]*)\]/g) ?? []) {
          v = V.isObject(v) || Array.isArray(v) ? (v as Record<string, unknown>)[seg.slice(1, -1)] : undefined
        }
        return encodeURIComponent(v === undefined || v === null ? "" : String(v))
      })
      const q = text.indexOf("?")
      const name = (q < 0 ? text : text.slice(0, q)).trim().replace(/\.json$/, "")
      const method = name.toLowerCase()
      const commandParams = FormBody.parse(q < 0 ? "" : text.slice(q + 1))
      commands.push(name)
      bump(this.#counters.byCommand, name)
      const handler = Methods.methods.get(method)
      const ledgerKey = toBatch ? batchKey : `${caller.key}:${method}`
      // The portal stops a request at 60 s: the commands run before the cut stay applied.
      if (
        handler !== undefined &&
        processing + costPerCallSeconds + this.ledger.cost(requestItems(method, commandParams)) >
          maxRequestSeconds
      ) {
        if (toBatch) this.ledger.record(batchKey, nowMs, processing + costPerCallSeconds)
        return Either.left(RestError.requestTimeLimit(maxRequestSeconds))
      }
      let outcome: Either.Either<Methods.Outcome, RestError.RestError>
      if (method === "batch" || (method === "crm.item.batchimport" && !this.options.batchImportInBatch)) {
        outcome = Either.left(RestError.batchMethodNotAllowed())
      } else if (handler === undefined) {
        outcome = Either.left(RestError.methodNotFound())
      } else if (!toBatch && this.ledger.isBlocked(ledgerKey, nowMs)) {
        outcome = Either.left(RestError.operationTimeLimit())
      } else {
        outcome = handler.run(ctx, name, commandParams)
      }
      if (Either.isLeft(outcome)) {
        errors[key] = outcome.left.body
        if (outcome.left.code === "OPERATION_TIME_LIMIT") this.#counters.status429++
        if (halt) break
        continue
      }
      const cost = this.ledger.cost(outcome.right.items)
      processing += cost
      if (!toBatch) this.ledger.record(ledgerKey, nowMs, cost)
      result[key] = outcome.right.result
      if (outcome.right.total !== undefined) totals[key] = outcome.right.total
      if (outcome.right.next !== undefined) nexts[key] = outcome.right.next
      times[key] = this.#timeObject(startMs, nowMs, cost, this.ledger.usage(ledgerKey, nowMs))
    }
    const part = (record: Record<string, unknown>): unknown => {
      const keys = Object.keys(record)
      if (keys.length === 0) return []
      if (Array.isArray(cmd) && keys.every((k, i) => k === String(i))) return keys.map((k) => record[k])
      return record
    }
    return Either.right({
      result: {
        result: part(result),
        result_error: part(errors),
        result_total: part(totals),
        result_next: part(nexts),
        result_time: part(times),
      },
      items: 0,
      processing: processing + costPerCallSeconds,
      // Per the vendor's page the batch itself costs only its own overhead; with `batchCharge:
      // "batch"` everything its commands used as well.
      charge: toBatch ? processing + costPerCallSeconds : costPerCallSeconds,
      commands,
    })
  }

  #token(url: URL, req: Request, nowMs: number): Reply {
    const body = parseBody(req)
    const params = { ...FormBody.parse(url.search), ...(Either.isRight(body) ? body.right : {}) }
    if (params.grant_type !== "refresh_token") {
      return json(400, { error: "invalid_request", error_description: "grant_type must be refresh_token" })
    }
    if (params.client_id !== this.options.clientId || params.client_secret !== this.options.clientSecret) {
      return json(401, { error: "invalid_client", error_description: "Invalid client credentials" })
    }
    const pair =
      typeof params.refresh_token === "string" ? this.tokens.refresh(params.refresh_token, nowMs) : undefined
    if (pair === undefined)
      return json(400, { error: "invalid_grant", error_description: "Invalid refresh token" })
    return json(200, tokenAnswer(pair, this.baseUrl, this.options.clientId))
  }
}

/** The body of the token endpoint's answer, as the vendor's OAuth server gives it. */
export const tokenAnswer = (pair: OAuth.TokenPair, baseUrl: string, memberId: string) => ({
  access_token: pair.accessToken,
  expires: pair.expires,
  expires_in: pair.expiresIn,
  scope: "crm,user",
  domain: new URL(baseUrl || "http://127.0.0.1").host,
  server_endpoint: `${baseUrl}/rest/`,
  status: "L",
  client_endpoint: `${baseUrl}/rest/`,
  member_id: memberId,
  user_id: pair.userId,
  refresh_token: pair.refreshToken,
})

const requestItems = (method: string, params: Record<string, unknown>): number => {
  if (method === "crm.item.batchimport") return V.isIterable(params.data) ? V.toList(params.data).length : 0
  const handler = Methods.methods.get(method)
  return handler?.write === true ? 1 : 0
}
