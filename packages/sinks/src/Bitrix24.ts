/**
 * The Bitrix24 sink: targets, field helpers, and the sink itself.
 *
 * ```ts
 * import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
 * import { ref } from "@b24etl/core/Reference"
 *
 * export default Pipeline.make({
 *   name: "migrate-legacy",
 *   sink: Bitrix24.sink({ webhookUrl: Config.redacted("BITRIX24_WEBHOOK_URL") }, { rate: "standard" }),
 *   entities: {
 *     company: { from, to: Bitrix24.company, map: (r) => ({ title: r.name, PHONE: Bitrix24.phones(r.phone) }) },
 *     contact: { from, to: Bitrix24.contact, references: ["company"],
 *                map: (r) => ({ name: r.first_name, companyId: ref("company", r.company_id) }) },
 *   },
 * })
 * ```
 *
 * Items are created with `crm.item.batchImport` (20 per command, several commands per `batch` where the
 * portal takes it), stamped with
 * `originatorId` = the pipeline's originator and `originId` = the record's identity (`xmlId` for
 * invoices and smart processes), so a run that was interrupted finds what it created.
 */
import type * as Sink from "@b24etl/core/Sink"
import { SinkError } from "@b24etl/core/Sink"
// Module by module, not the `effect` index, and the client and connection (HTTP, @effect/platform)
// only when a run connects: a pipeline file loads this module at definition time (`list`).
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Bitrix24Client from "./Bitrix24Client.js"
import type * as PackedImports from "./internal/connection/packedImports.js"
import type * as OperatingTime from "./OperatingTime.js"
import * as RateLimiter from "./RateLimiter.js"
import * as Target from "./Target.js"

export type {
  CompanyFields,
  ContactFields,
  DealFields,
  EmailType,
  ImType,
  InvoiceFields,
  LeadFields,
  MultiFieldValue,
  PhoneType,
  QuoteFields,
  SpaFields,
  WebType,
} from "./Fields.js"
export {
  date,
  dateTime,
  emails,
  file,
  ims,
  money,
  phones,
  webs,
  yn,
} from "./Fields.js"
export type { Target } from "./Target.js"
export { company, contact, deal, invoice, lead, quote, spa } from "./Target.js"

// ---------------------------------------------------------------------------------------------
// Configuration

/** A value, or a `Config` read when the sink connects (so a pipeline module reads no env on import). */
export type Setting<A> = A | Config.Config<A>

export interface OAuthSettings {
  readonly portalUrl: Setting<string>
  readonly clientId: Setting<string>
  readonly clientSecret: Setting<Redacted.Redacted<string>>
  readonly accessToken: Setting<Redacted.Redacted<string>>
  readonly refreshToken: Setting<Redacted.Redacted<string>>
  /** Default: `https://oauth.bitrix.info/oauth/token/`, or the emulator's for a loopback portal. */
  readonly tokenUrl?: Setting<string> | undefined
  /**
   * Called with the rotated tokens after a refresh. The runner already keeps them in the state
   * store (encrypted with the client secret) and starts the next run from them.
   */
  readonly onRefresh?: Bitrix24Client.OAuthAuth["onRefresh"]
}

export type AuthSettings =
  | { readonly webhookUrl: Setting<Redacted.Redacted<string>> }
  | { readonly oauth: OAuthSettings }

export interface SinkOptions {
  /** `standard` (2/s, burst 50, default), `enterprise` (5/s, 250), `unlimited`, or `{ rate, burst }`. */
  readonly rate?: Setting<RateLimiter.Preset> | undefined
  /** `create` calls the runner keeps in flight (default 4). */
  readonly concurrency?: Setting<number> | undefined
  /** Longest wait for one answer (default 75 s). */
  readonly timeout?: Duration.DurationInput | undefined
  readonly retry?: Bitrix24Client.RetryOptions | undefined
  readonly operatingTime?: Partial<OperatingTime.Config> | undefined
  /**
   * `auto` (default): imports go as `batch` requests of several `crm.item.batchImport` commands once a
   * probe that creates nothing shows the portal takes them; `off`: one `crm.item.batchImport` per request.
   */
  readonly packing?: Setting<PackedImports.Packing> | undefined
  /** Extra CA certificate (PEM) to trust. */
  readonly ca?: string | undefined
}

/** Everything the sink needs, resolved. */
export interface Bitrix24Config {
  readonly auth: Bitrix24Client.Auth
  readonly limits: RateLimiter.Limits
  readonly concurrency: number
  readonly timeout?: Duration.DurationInput | undefined
  readonly retry?: Bitrix24Client.RetryOptions | undefined
  readonly operatingTime?: Partial<OperatingTime.Config> | undefined
  /** `auto` (default) or `off`: see `SinkOptions.packing`. */
  readonly packing?: PackedImports.Packing | undefined
  readonly ca?: string | undefined
}

const setting = <A>(value: Setting<A>): Effect.Effect<A, ConfigError.ConfigError> =>
  Config.isConfig(value) ? (value as Config.Config<A>) : Effect.succeed(value as A)

const rateConfig = (text: string): Either.Either<RateLimiter.Limits, ConfigError.ConfigError> =>
  Either.mapLeft(RateLimiter.parse(text), (message) => ConfigError.InvalidData(["BITRIX24_RATE"], message))

/**
 * The sink's configuration from the environment:
 * - `BITRIX24_WEBHOOK_URL` (an inbound webhook), or the OAuth set `BITRIX24_OAUTH_PORTAL_URL`,
 *   `BITRIX24_OAUTH_CLIENT_ID`, `BITRIX24_OAUTH_CLIENT_SECRET`, `BITRIX24_OAUTH_ACCESS_TOKEN`,
 *   `BITRIX24_OAUTH_REFRESH_TOKEN` (and optionally `BITRIX24_OAUTH_TOKEN_URL`);
 * - `BITRIX24_RATE`: `standard` (default), `enterprise`, `unlimited` or `<rate>/<burst>`;
 * - `BITRIX24_CONCURRENCY`: batches in flight (default 4);
 * - `BITRIX24_PACKING`: `auto` (default) or `off`, see `SinkOptions.packing`.
 */
export const config: Config.Config<Bitrix24Config> = Config.all({
  auth: Config.orElse(
    Config.map(
      Config.redacted("BITRIX24_WEBHOOK_URL"),
      (url): Bitrix24Client.Auth => ({ _tag: "Webhook", url }),
    ),
    () =>
      Config.map(
        Config.all({
          portalUrl: Config.string("BITRIX24_OAUTH_PORTAL_URL"),
          clientId: Config.string("BITRIX24_OAUTH_CLIENT_ID"),
          clientSecret: Config.redacted("BITRIX24_OAUTH_CLIENT_SECRET"),
          accessToken: Config.redacted("BITRIX24_OAUTH_ACCESS_TOKEN"),
          refreshToken: Config.redacted("BITRIX24_OAUTH_REFRESH_TOKEN"),
          tokenUrl: Config.option(Config.string("BITRIX24_OAUTH_TOKEN_URL")),
        }),
        ({ tokenUrl, ...rest }): Bitrix24Client.Auth => ({
          _tag: "OAuth",
          ...rest,
          tokenUrl: Option.getOrUndefined(tokenUrl),
        }),
      ),
  ),
  limits: Config.string("BITRIX24_RATE").pipe(Config.withDefault("standard"), Config.mapOrFail(rateConfig)),
  concurrency: Config.integer("BITRIX24_CONCURRENCY").pipe(
    Config.withDefault(4),
    Config.validate({ message: "BITRIX24_CONCURRENCY must be at least 1", validation: (n) => n >= 1 }),
  ),
  packing: Config.literal("auto", "off")("BITRIX24_PACKING").pipe(Config.withDefault("auto" as const)),
})

const resolveAuth = (auth: AuthSettings): Effect.Effect<Bitrix24Client.Auth, ConfigError.ConfigError> =>
  "webhookUrl" in auth
    ? Effect.map(setting(auth.webhookUrl), (url) => ({ _tag: "Webhook" as const, url }))
    : Effect.gen(function* () {
        const o = auth.oauth
        return {
          _tag: "OAuth" as const,
          portalUrl: yield* setting(o.portalUrl),
          clientId: yield* setting(o.clientId),
          clientSecret: yield* setting(o.clientSecret),
          accessToken: yield* setting(o.accessToken),
          refreshToken: yield* setting(o.refreshToken),
          tokenUrl: o.tokenUrl === undefined ? undefined : yield* setting(o.tokenUrl),
          onRefresh: o.onRefresh,
        }
      })

const configError = (e: ConfigError.ConfigError) =>
  new SinkError({
    sink: Target.kind,
    reason: "fatal",
    code: "CONFIG",
    message: `Bitrix24 sink configuration: ${String(e)}`,
  })

// ---------------------------------------------------------------------------------------------
// The sink

export class Bitrix24Sink extends Context.Tag("@b24etl/sinks/Bitrix24Sink")<
  Bitrix24Sink,
  Sink.Sink<Target.Target>
>() {}

const fromEffect = (resolve: Effect.Effect<Bitrix24Config, ConfigError.ConfigError | SinkError>) => {
  let portal: string | undefined
  const sink: Sink.Sink<Target.Target> = {
    version: 1,
    kind: Target.kind,
    get name() {
      return portal === undefined ? "Bitrix24" : `Bitrix24 ${portal}`
    },
    connect: ({ originator, dryRun, credentials, rateBuckets }) =>
      Effect.gen(function* () {
        const c = yield* resolve.pipe(Effect.mapError((e) => (e._tag === "SinkError" ? e : configError(e))))
        const connected = yield* Effect.flatMap(
          Effect.promise(() => import("./internal/connect.js")),
          (Connect) => Connect.connect(c, { originator, dryRun, credentials, rateBuckets }),
        )
        portal = connected.portal
        return connected.connection
      }),
  }
  return sink
}

/** A sink from a resolved configuration. */
export const make = (c: Bitrix24Config): Sink.Sink<Target.Target> => fromEffect(Effect.succeed(c))

/**
 * The sink as a pipeline declares it; `Config` values (e.g. `Config.redacted("BITRIX24_WEBHOOK_URL")`)
 * are read when a run connects.
 */
export const sink = (auth: AuthSettings, options: SinkOptions = {}): Sink.Sink<Target.Target> =>
  fromEffect(
    Effect.gen(function* () {
      const preset = options.rate === undefined ? "standard" : yield* setting(options.rate)
      const limits = yield* RateLimiter.validate(RateLimiter.limits(preset)).pipe(
        Either.mapLeft((message) => configError(ConfigError.InvalidData([], message))),
      )
      const concurrency = options.concurrency === undefined ? 4 : yield* setting(options.concurrency)
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        return yield* configError(
          ConfigError.InvalidData([], `concurrency must be a whole number >= 1, got ${concurrency}`),
        )
      }
      const packing = options.packing === undefined ? "auto" : yield* setting(options.packing)
      if (packing !== "auto" && packing !== "off") {
        return yield* configError(
          ConfigError.InvalidData([], `packing must be auto or off, got ${String(packing)}`),
        )
      }
      return {
        auth: yield* resolveAuth(auth),
        limits,
        concurrency,
        packing,
        timeout: options.timeout,
        retry: options.retry,
        operatingTime: options.operatingTime,
        ca: options.ca,
      }
    }),
  )

/** The sink configured from the environment (see `config`), read when a run connects. */
export const fromEnv = (
  overrides: Omit<SinkOptions, "rate" | "concurrency" | "packing"> = {},
): Sink.Sink<Target.Target> => fromEffect(Effect.map(config, (c) => ({ ...overrides, ...c })))

export const layer = (c: Bitrix24Config): Layer.Layer<Bitrix24Sink> => Layer.succeed(Bitrix24Sink, make(c))

/** The sink as a service, its configuration read when the layer is built (default: the environment). */
export const layerConfig = (
  c: Config.Config<Bitrix24Config> = config,
): Layer.Layer<Bitrix24Sink, ConfigError.ConfigError> => Layer.effect(Bitrix24Sink, Effect.map(c, make))

/** Webhook auth from a plain URL (tests, scripts); prefer `Config.redacted` in pipelines. */
export const webhook = (url: string | Redacted.Redacted<string>): AuthSettings => ({
  webhookUrl: typeof url === "string" ? Redacted.make(url) : url,
})
