/**
 * A local Bitrix24 portal over real HTTP(S), for tests, demos and benchmarks.
 *
 * ```ts
 * const program = Effect.gen(function* () {
 *   const emulator = yield* Emulator.Emulator
 *   yield* Effect.promise(() => fetch(`${emulator.webhookUrl}profile`))
 * })
 * program.pipe(Effect.provide(Emulator.layer({ rateLimit: { burst: 0 } })), Effect.scoped)
 * ```
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import {
  Clock,
  Config,
  type ConfigError,
  Context,
  Data,
  Duration,
  Effect,
  Layer,
  Runtime,
  type Scope,
} from "effect"
import * as EntityTypes from "./EntityTypes.js"
import type * as Faults from "./Faults.js"
import type * as OAuth from "./internal/oauth.js"
import * as Portal from "./internal/portal.js"
import * as OperatingTime from "./OperatingTime.js"
import * as RateLimit from "./RateLimit.js"
import type * as Store from "./Store.js"

export type Counters = Portal.Counters
export type RequestLogEntry = Portal.RequestLogEntry
export type TokenPair = OAuth.TokenPair

export interface EmulatorConfig {
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number
  /** Loopback by default. */
  readonly host?: string
  /** Serve HTTPS with a certificate generated at start (the official SDK refuses http). */
  readonly https?: boolean
  /** Webhook owner (default 1, an administrator). */
  readonly webhookUserId?: number
  /** Webhook code (default: random, or the persisted one when `persistPath` has a snapshot). */
  readonly webhookCode?: string
  /** Users allowed to set `createdTime`/`createdBy`... on import (default [1]). */
  readonly adminUserIds?: ReadonlyArray<number>
  /** Leaky bucket (default 2/s, burst 50; `burst: 0` turns it off). */
  readonly rateLimit?: Partial<RateLimit.RateLimitConfig>
  readonly operatingTime?: Partial<OperatingTime.OperatingTimeConfig>
  /** Added to every REST request before it is handled. */
  readonly latencyMs?: number
  readonly faults?: Faults.FaultConfig
  /** Seed of the fault generator (default 1). */
  readonly seed?: number
  /** Smart processes to add and system types to extend (user fields, parents, required fields). */
  readonly entityTypes?: ReadonlyArray<EntityTypes.EntityTypeConfig>
  readonly oauth?: {
    readonly clientId?: string
    readonly clientSecret?: string
    /** Access-token lifetime (default 3600 s). */
    readonly accessTokenTtlSeconds?: number
  }
  /** Refuse imports whose `createdTime` is earlier than an earlier import's (default true). */
  readonly strictImportOrder?: boolean
  /** Allow `crm.item.batchImport` inside `batch` (default true; the vendor's server does not forbid it). */
  readonly batchImportInBatch?: boolean
  /** Default currency (default "USD"). */
  readonly currency?: string
  /** Load the store from this JSON file at start and write it after each change (atomically). */
  readonly persistPath?: string
  /** Entries the request log keeps (default 10,000). */
  readonly requestLogLimit?: number
}

export interface Service {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  readonly port: number
  /** Inbound webhook URL with a trailing slash: append the method (`…/crm.item.list`). */
  readonly webhookUrl: string
  /** PEM certificate when serving HTTPS (pass it as a CA to trust the server). */
  readonly certificate: string | undefined
  readonly oauth: {
    readonly clientId: string
    readonly clientSecret: string
    /** `${url}/rest/`: append the method, send `auth` in the body. */
    readonly restUrl: string
    /** `${url}/oauth/token/`: `grant_type=refresh_token&client_id&client_secret&refresh_token`. */
    readonly tokenUrl: string
    /** Issues an access/refresh token pair (user 1 by default). */
    readonly issueToken: (userId?: number) => Effect.Effect<TokenPair>
    /** Makes one access token, or every token when none is given, expired now. */
    readonly expireAccessToken: (accessToken?: string) => Effect.Effect<void>
  }
  /** The live store (read it; write through the API or `seed`). */
  readonly store: Store.Store
  readonly items: (entityTypeId: number) => Effect.Effect<ReadonlyArray<Store.Item>>
  /** Inserts an item directly (no validation), optionally with a chosen id. */
  readonly seed: (
    entityTypeId: number,
    fields: Record<string, unknown>,
    id?: number,
  ) => Effect.Effect<Store.Item>
  /** Fields requests sent that their type does not have (ignored, as the real portal does). */
  readonly ignoredFields: Effect.Effect<ReadonlyArray<Store.IgnoredField>>
  readonly counters: Effect.Effect<Counters>
  readonly requestLog: Effect.Effect<ReadonlyArray<RequestLogEntry>>
  /** Empties store, log, counters, rate and time budgets; replays the fault seed. Credentials stay valid. */
  readonly reset: Effect.Effect<void>
  readonly setFaults: (faults: Faults.FaultConfig) => Effect.Effect<void>
  readonly setLatency: (ms: number) => Effect.Effect<void>
  /** Changes the rate limit at runtime (`burst: 0` turns it off); the bucket's level is kept. */
  readonly setRateLimit: (config: Partial<RateLimit.RateLimitConfig>) => Effect.Effect<void>
}

export class Emulator extends Context.Tag("@b24etl/bitrix24-emulator/Emulator")<Emulator, Service>() {}

/** The emulator could not start: the port is taken, or the persisted snapshot is unreadable. */
export class EmulatorError extends Data.TaggedError("EmulatorError")<{
  readonly message: string
  readonly cause: unknown
}> {}

interface PersistedSnapshot extends Store.Snapshot {
  readonly webhookCode?: string
}

const readSnapshot = (file: string): PersistedSnapshot | undefined => {
  if (!fs.existsSync(file)) return undefined
  return JSON.parse(fs.readFileSync(file, "utf8")) as PersistedSnapshot
}

const writeSnapshot = (file: string, snapshot: PersistedSnapshot): void => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const temp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(temp, JSON.stringify(snapshot))
  fs.renameSync(temp, file)
}

const certificate = Effect.promise(async () => {
  const selfsigned = await import("selfsigned")
  const notAfter = new Date(Date.now() + 7 * 86_400_000)
  return selfsigned.generate([{ name: "commonName", value: "127.0.0.1" }], {
    keyType: "ec",
    algorithm: "sha256",
    notAfterDate: notAfter,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
        ],
      },
    ],
  })
})

/**
 * Starts a portal and returns its service. The server closes when the scope closes.
 * Time comes from Effect's `Clock` of the fiber that runs `make` (so `TestClock` drives it in tests).
 */
export const make = (config: EmulatorConfig = {}): Effect.Effect<Service, EmulatorError, Scope.Scope> =>
  Effect.gen(function* () {
    const persistPath = config.persistPath
    const snapshot =
      persistPath === undefined
        ? undefined
        : yield* Effect.try({
            try: () => readSnapshot(persistPath),
            catch: (cause) =>
              new EmulatorError({ message: `cannot read the store snapshot ${persistPath}`, cause }),
          })
    const webhookCode = config.webhookCode ?? snapshot?.webhookCode ?? randomBytes(8).toString("hex")
    const portal = new Portal.Portal({
      webhookUserId: config.webhookUserId ?? 1,
      webhookCode,
      adminUserIds: config.adminUserIds ?? [1],
      rateLimit: { ...RateLimit.defaults, ...config.rateLimit },
      operatingTime: { ...OperatingTime.defaults, ...config.operatingTime },
      faults: config.faults ?? {},
      seed: config.seed ?? 1,
      types: EntityTypes.resolve(config.entityTypes),
      clientId: config.oauth?.clientId ?? "local.emulator",
      clientSecret: config.oauth?.clientSecret ?? randomBytes(12).toString("hex"),
      accessTokenTtlSeconds: config.oauth?.accessTokenTtlSeconds ?? 3600,
      strictImportOrder: config.strictImportOrder ?? true,
      batchImportInBatch: config.batchImportInBatch ?? true,
      currency: config.currency ?? "USD",
      requestLogLimit: config.requestLogLimit ?? 10_000,
      maxBatchCommands: 50,
    })
    if (snapshot !== undefined) portal.store.restore(snapshot)
    let latencyMs = config.latencyMs ?? 0
    let persistedVersion = portal.store.version
    const persist = () => {
      if (config.persistPath === undefined || portal.store.version === persistedVersion) return
      persistedVersion = portal.store.version
      writeSnapshot(config.persistPath, { ...portal.store.snapshot(), webhookCode })
    }

    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)

    const respond = (
      req: http.IncomingMessage,
      res: http.ServerResponse,
      body: string,
    ): Effect.Effect<void> =>
      Effect.gen(function* () {
        const startMs = yield* Clock.currentTimeMillis
        if (latencyMs > 0 && req.url?.startsWith("/rest/")) yield* Effect.sleep(Duration.millis(latencyMs))
        const nowMs = latencyMs > 0 ? yield* Clock.currentTimeMillis : startMs
        const reply = portal.handle(
          {
            httpMethod: req.method ?? "GET",
            url: req.url ?? "/",
            contentType: req.headers["content-type"],
            body,
          },
          startMs,
          nowMs,
        )
        persist()
        if (reply._tag === "Reset") {
          req.socket.destroy()
          return
        }
        const text = JSON.stringify(reply.body)
        res.writeHead(reply.status, {
          "content-type": "application/json; charset=utf-8",
          "content-length": Buffer.byteLength(text),
        })
        res.end(text)
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.zipRight(
            Effect.logError("bitrix24-emulator: request failed", cause),
            Effect.sync(() => {
              if (res.headersSent) return
              const text = JSON.stringify({
                error: "INTERNAL_SERVER_ERROR",
                error_description: "Internal server error",
              })
              res.writeHead(500, { "content-type": "application/json; charset=utf-8" })
              res.end(text)
            }),
          ),
        ),
      )

    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        runFork(respond(req, res, Buffer.concat(chunks).toString("utf8")))
      })
    }

    const pems = config.https === true ? yield* certificate : undefined
    const server: http.Server =
      pems === undefined
        ? http.createServer(onRequest)
        : https.createServer({ key: pems.private, cert: pems.cert }, onRequest)
    server.keepAliveTimeout = 30_000

    const host = config.host ?? "127.0.0.1"
    const port = yield* Effect.acquireRelease(
      Effect.async<number, EmulatorError>((resume) => {
        server.once("error", (cause) =>
          resume(
            Effect.fail(
              new EmulatorError({ message: `cannot listen on ${host}:${config.port ?? 0}`, cause }),
            ),
          ),
        )
        server.listen(config.port ?? 0, host, () =>
          resume(Effect.succeed((server.address() as AddressInfo).port)),
        )
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        }).pipe(
          Effect.zipRight(Effect.try(persist)),
          Effect.catchAll((e) => Effect.logError("bitrix24-emulator: could not persist the store", e)),
        ),
    )
    const url = `${pems === undefined ? "http" : "https"}://${host}:${port}`
    portal.baseUrl = url

    const service: Service = {
      url,
      port,
      webhookUrl: `${url}/rest/${portal.options.webhookUserId}/${webhookCode}/`,
      certificate: pems?.cert,
      oauth: {
        clientId: portal.options.clientId,
        clientSecret: portal.options.clientSecret,
        restUrl: `${url}/rest/`,
        tokenUrl: `${url}/oauth/token/`,
        issueToken: (userId = 1) =>
          Effect.map(Clock.currentTimeMillis, (now) => portal.tokens.issue(userId, now)),
        expireAccessToken: (token) =>
          Effect.map(Clock.currentTimeMillis, (now) => portal.tokens.expire(token, now)),
      },
      store: portal.store,
      items: (entityTypeId) => Effect.sync(() => portal.store.items(entityTypeId)),
      seed: (entityTypeId, fields, id) =>
        Effect.sync(() => {
          const item = portal.store.insert(entityTypeId, fields, id)
          persist()
          return item
        }),
      ignoredFields: Effect.sync(() => [...portal.store.ignoredFields]),
      counters: Effect.sync(() => portal.counters()),
      requestLog: Effect.sync(() => portal.requestLog),
      reset: Effect.sync(() => {
        portal.reset()
        persist()
      }),
      setFaults: (faults) => Effect.sync(() => portal.faults.set(faults)),
      setLatency: (ms) =>
        Effect.sync(() => {
          latencyMs = ms
        }),
      setRateLimit: (rateLimit) =>
        Effect.sync(() => portal.bucket.configure({ ...portal.bucket.config, ...rateLimit })),
    }
    return service
  })

/** A scoped layer: starts the portal on build, closes it with the scope. */
export const layer = (config: EmulatorConfig = {}): Layer.Layer<Emulator, EmulatorError> =>
  Layer.scoped(Emulator, make(config))

/** Like `layer`, with the configuration read through `Config`. */
export const layerConfig = (
  config: Config.Config.Wrap<EmulatorConfig>,
): Layer.Layer<Emulator, ConfigError.ConfigError | EmulatorError> =>
  Layer.scoped(Emulator, Effect.flatMap(Config.unwrap(config), make))
