import { assert, describe, it } from "@effect/vitest"
import { Option, Redacted } from "effect"
import * as OAuthTokens from "../src/OAuthTokens.js"

/** The encryption of the rotated tokens the state store keeps (the whole flow is in `test/oauth-midrun.test.ts`). */
const secret = Redacted.make("client-secret-1")
const name = "bitrix24-oauth https://acme.bitrix24.com local.app"
const tokens = { seed: "ab".repeat(32), accessToken: "access-7f3a", refreshToken: "refresh-91cc" }

describe("stored OAuth tokens", () => {
  it("round-trip under the client secret, and the stored text holds neither token", () => {
    const text = OAuthTokens.encrypt(secret, name, tokens)
    assert.notInclude(text, tokens.accessToken)
    assert.notInclude(text, tokens.refreshToken)
    assert.deepStrictEqual(OAuthTokens.decrypt(secret, name, text), Option.some(tokens))
    // A fresh nonce every time: the same pair never gives the same text.
    assert.notStrictEqual(OAuthTokens.encrypt(secret, name, tokens), text)
  })

  it("cannot be read with another client secret, under another name, or once altered", () => {
    const text = OAuthTokens.encrypt(secret, name, tokens)
    assert.isTrue(Option.isNone(OAuthTokens.decrypt(Redacted.make("client-secret-2"), name, text)))
    assert.isTrue(Option.isNone(OAuthTokens.decrypt(secret, `${name}x`, text)))
    const [format, iv, tag, body] = text.split(".")
    const flipped = Buffer.from(body!, "base64")
    flipped[0] = flipped[0]! ^ 1
    assert.isTrue(
      Option.isNone(
        OAuthTokens.decrypt(secret, name, [format, iv, tag, flipped.toString("base64")].join(".")),
      ),
    )
    assert.isTrue(Option.isNone(OAuthTokens.decrypt(secret, name, "not stored by this version")))
  })

  it("are named by portal origin and app, so pipelines sharing both share one refresh token", () => {
    const auth = {
      _tag: "OAuth" as const,
      portalUrl: "https://acme.bitrix24.com/some/path/",
      clientId: "local.app",
      clientSecret: secret,
      accessToken: Redacted.make("a"),
      refreshToken: Redacted.make("r"),
    }
    assert.strictEqual(OAuthTokens.credentialName(auth), name)
  })
})
