/**
 * Authentication over HTTP: webhook failures are fatal and redacted, OAuth tokens refresh once for
 * any number of concurrent calls, and only loopback portals may be called over plain http.
 */
import type * as Emulator from "@b24etl/bitrix24-emulator/Emulator"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Layer, Redacted } from "effect"
import * as Bitrix24 from "../src/Bitrix24.js"
import { connect, fastRetry, items, portal, webhookSink } from "./support.js"

const code = "s3cret-hook-code-4711"

const everyText = (e: unknown): string => {
  const texts = [String(e), JSON.stringify(e)]
  if (e instanceof Error) texts.push(e.message, e.stack ?? "")
  const cause = (e as { cause?: unknown }).cause
  if (cause !== undefined) texts.push(String(cause), JSON.stringify(cause))
  return texts.join("\n")
}

describe("webhook", () => {
  it.scopedLive("a wrong webhook code is fatal at once, and its message never shows the code", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ webhookCode: "the-right-code" })
      const sink = Bitrix24.sink(Bitrix24.webhook(`${emulator.url}/rest/1/${code}/`), { retry: fastRetry })
      const conn = yield* connect(sink)
      const failed = yield* Effect.either(conn.check)
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left.reason, "fatal")
        assert.strictEqual(failed.left.code, "INVALID_CREDENTIALS")
        assert.include(failed.left.message, "/rest/1/***/")
        assert.notInclude(everyText(failed.left), code)
      }
      const create = yield* Effect.either(
        conn.create(
          Bitrix24.company,
          items("company", 3, () => ({ title: "t" })),
        ),
      )
      assert.isTrue(Either.isLeft(create) && create.left.reason === "fatal")
      if (Either.isLeft(create)) assert.notInclude(everyText(create.left), code)
      // Never retried: one request each.
      assert.strictEqual((yield* emulator.counters).requests, 2)
      assert.notInclude(sink.name, code)
    }),
  )

  it.scopedLive("plain http is refused for a non-loopback portal, before any request", () =>
    Effect.gen(function* () {
      const sink = Bitrix24.sink(Bitrix24.webhook(`http://acme.bitrix24.example/rest/7/${code}/`))
      const failed = yield* Effect.either(connect(sink))
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left.reason, "fatal")
        assert.include(failed.left.message, "https")
        assert.include(failed.left.message, "http://acme.bitrix24.example/rest/7/***/")
        assert.notInclude(everyText(failed.left), code)
      }
      const malformed = yield* Effect.either(
        connect(Bitrix24.sink(Bitrix24.webhook("https://acme.example/crm/"))),
      )
      assert.isTrue(
        Either.isLeft(malformed) && malformed.left.message.includes("/rest/<user id>/<webhook code>/"),
      )
    }),
  )

  it.scopedLive("a portal that refuses connections: nothing was sent, so create is `unavailable`", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const closed = emulator.url.replace(/:\d+$/, ":1")
      const conn = yield* connect(
        Bitrix24.sink(Bitrix24.webhook(`${closed}/rest/1/${code}/`), { retry: fastRetry }),
      )
      const failed = yield* Effect.either(
        conn.create(
          Bitrix24.company,
          items("company", 2, () => ({ title: "t" })),
        ),
      )
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left.reason, "unavailable")
        assert.strictEqual(failed.left.code, "ECONNREFUSED")
        assert.notInclude(everyText(failed.left), code)
      }
    }),
  )

  it.scopedLive("https to a portal with its own certificate authority", () =>
    Effect.gen(function* () {
      const emulator = yield* portal({ https: true })
      assert.isTrue(emulator.webhookUrl.startsWith("https://"))
      const untrusted = yield* connect(webhookSink(emulator))
      const refused = yield* Effect.either(untrusted.check)
      assert.isTrue(Either.isLeft(refused) && refused.left.reason === "fatal")
      const conn = yield* connect(webhookSink(emulator, { ca: emulator.certificate! }))
      yield* conn.check
      const results = yield* conn.create(
        Bitrix24.company,
        items("company", 3, () => ({ title: "tls" })),
      )
      assert.isTrue(results.every((r) => r._tag === "Written"))
    }),
  )

  it.scopedLive("configured from the environment (BITRIX24_WEBHOOK_URL, BITRIX24_RATE)", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const env = ConfigProvider.fromMap(
        new Map([
          ["BITRIX24_WEBHOOK_URL", emulator.webhookUrl],
          ["BITRIX24_RATE", "5/250"],
          ["BITRIX24_CONCURRENCY", "6"],
        ]),
      )
      const conn = yield* connect(Bitrix24.fromEnv()).pipe(Effect.withConfigProvider(env))
      assert.strictEqual(conn.concurrency, 6)
      const plan = yield* conn.plan([])
      assert.include(plan.notes.join("\n"), "5 requests/s, burst 250")
      const sink = yield* Bitrix24.Bitrix24Sink.pipe(
        Effect.provide(Bitrix24.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(env)))),
      )
      assert.strictEqual(sink.kind, "bitrix24")
      const missing = yield* Effect.either(
        connect(Bitrix24.fromEnv()).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))),
      )
      assert.isTrue(Either.isLeft(missing))
      if (Either.isLeft(missing)) {
        assert.strictEqual(missing.left.reason, "fatal")
        assert.include(missing.left.message, "BITRIX24_WEBHOOK_URL")
      }
      const badRate = yield* Effect.either(
        connect(Bitrix24.fromEnv()).pipe(
          Effect.withConfigProvider(
            ConfigProvider.fromMap(
              new Map([
                ["BITRIX24_WEBHOOK_URL", emulator.webhookUrl],
                ["BITRIX24_RATE", "fast"],
              ]),
            ),
          ),
        ),
      )
      assert.isTrue(Either.isLeft(badRate) && badRate.left.message.includes("BITRIX24_RATE"))
      if (Either.isLeft(badRate)) assert.notInclude(everyText(badRate.left), emulator.webhookUrl)
    }),
  )
})

const oauthSink = (
  emulator: Emulator.Service,
  tokens: Emulator.TokenPair,
  onRefresh?: () => void,
  secret?: string,
) =>
  Bitrix24.sink(
    {
      oauth: {
        portalUrl: emulator.url,
        clientId: emulator.oauth.clientId,
        clientSecret: Redacted.make(secret ?? emulator.oauth.clientSecret),
        accessToken: Redacted.make(tokens.accessToken),
        refreshToken: Redacted.make(tokens.refreshToken),
        onRefresh: () => Effect.sync(() => onRefresh?.()),
      },
    },
    { retry: fastRetry },
  )

describe("OAuth", () => {
  it.scopedLive(
    "an expired token is refreshed once for all concurrent calls, then the calls go through",
    () =>
      Effect.gen(function* () {
        const emulator = yield* portal()
        const tokens = yield* emulator.oauth.issueToken()
        let refreshed = 0
        const conn = yield* connect(oauthSink(emulator, tokens, () => refreshed++))
        yield* conn.check
        yield* emulator.oauth.expireAccessToken()
        const batches = Array.from({ length: 6 }, (_, b) =>
          items("company", 5, () => ({ title: "o" }), b * 5),
        )
        const results = yield* Effect.forEach(batches, (batch) => conn.create(Bitrix24.company, batch), {
          concurrency: 6,
        })
        const found = yield* Effect.forEach(batches, (batch) => conn.find(Bitrix24.company, batch), {
          concurrency: 6,
        })
        assert.isTrue(results.flat().every((r) => r._tag === "Written"))
        assert.deepStrictEqual(
          found.map((f) => f.size),
          [5, 5, 5, 5, 5, 5],
        )
        const log = yield* emulator.requestLog
        assert.strictEqual(log.filter((e) => e.method === "oauth.token").length, 1)
        assert.isAtLeast(log.filter((e) => e.error === "expired_token").length, 1)
        assert.strictEqual(refreshed, 1)
        assert.strictEqual((yield* emulator.items(4)).length, 30)
        assert.isTrue(log.filter((e) => e.method === "crm.item.batchImport").every((e) => e.auth === "oauth"))
      }),
  )

  it.scopedLive("a refresh the token server refuses is fatal, with no secret in the message", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const tokens = yield* emulator.oauth.issueToken()
      const secret = "wrong-client-secret-0815"
      const conn = yield* connect(oauthSink(emulator, tokens, undefined, secret))
      yield* emulator.oauth.expireAccessToken()
      const failed = yield* Effect.either(conn.check)
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left.reason, "fatal")
        assert.include(failed.left.message, "refreshing the OAuth access token failed")
        const text = everyText(failed.left)
        for (const s of [secret, tokens.accessToken, tokens.refreshToken]) assert.notInclude(text, s)
      }
    }),
  )

  it.scopedLive("an unknown token is fatal without a refresh", () =>
    Effect.gen(function* () {
      const emulator = yield* portal()
      const conn = yield* connect(
        oauthSink(emulator, {
          accessToken: "nope",
          refreshToken: "nope",
          expires: 0,
          expiresIn: 0,
          userId: 1,
        }),
      )
      const failed = yield* Effect.either(conn.check)
      assert.isTrue(
        Either.isLeft(failed) && failed.left.code === "NO_AUTH_FOUND" && failed.left.reason === "fatal",
      )
      assert.strictEqual((yield* emulator.requestLog).filter((e) => e.method === "oauth.token").length, 0)
    }),
  )
})
