/**
 * Rotated OAuth tokens, kept between runs. A Bitrix24 refresh token works once: after a refresh
 * the pair the environment holds is spent, so the sink stores the new pair where every process
 * of the pipeline finds it (the state store, through `Sink.Credentials`) and the next run starts
 * from it, here or on another machine.
 *
 * - The pair is encrypted (AES-256-GCM) under a key derived from the client secret, and bound
 *   to its name: the state store alone does not give the tokens away.
 * - A stored pair is used only while the environment still holds the refresh token it grew
 *   from (its seed, kept as a SHA-256 digest). Putting a new token in the environment, after
 *   authorising the app again, starts over from that one.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto"
import type * as Sink from "@b24etl/core/Sink"
import { SinkError } from "@b24etl/core/Sink"
import { Effect, Option, Redacted } from "effect"
import type * as Bitrix24Client from "./Bitrix24Client.js"

/** What is stored, before encryption. */
interface StoredTokens {
  readonly seed: string
  readonly accessToken: string
  readonly refreshToken: string
}

const FORMAT = "v1"

/** One name per portal and app, so pipelines sharing both share the tokens (there is one valid refresh token). */
export const credentialName = (auth: Bitrix24Client.OAuthAuth): string => {
  let portal = auth.portalUrl
  try {
    portal = new URL(auth.portalUrl).origin
  } catch {}
  return `bitrix24-oauth ${portal} ${auth.clientId}`.slice(0, 255)
}

const seedOf = (refreshToken: Redacted.Redacted<string>) =>
  createHash("sha256").update(Redacted.value(refreshToken)).digest("hex")

const keyOf = (clientSecret: Redacted.Redacted<string>) =>
  Buffer.from(hkdfSync("sha256", Redacted.value(clientSecret), "b24etl", "oauth-tokens", 32))

export const encrypt = (
  clientSecret: Redacted.Redacted<string>,
  name: string,
  tokens: StoredTokens,
): string => {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", keyOf(clientSecret), iv)
  cipher.setAAD(Buffer.from(name))
  const body = Buffer.concat([cipher.update(JSON.stringify(tokens), "utf8"), cipher.final()])
  return [FORMAT, iv, cipher.getAuthTag(), body]
    .map((p) => (typeof p === "string" ? p : p.toString("base64")))
    .join(".")
}

/** The stored pair, or none when it was written under another client secret, name or format. */
export const decrypt = (
  clientSecret: Redacted.Redacted<string>,
  name: string,
  text: string,
): Option.Option<StoredTokens> => {
  const [format, iv, tag, body] = text.split(".")
  if (format !== FORMAT || iv === undefined || tag === undefined || body === undefined) return Option.none()
  try {
    const decipher = createDecipheriv("aes-256-gcm", keyOf(clientSecret), Buffer.from(iv, "base64"))
    decipher.setAAD(Buffer.from(name))
    decipher.setAuthTag(Buffer.from(tag, "base64"))
    const json = Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString(
      "utf8",
    )
    const parsed = JSON.parse(json) as Partial<StoredTokens>
    return typeof parsed.seed === "string" &&
      typeof parsed.accessToken === "string" &&
      typeof parsed.refreshToken === "string"
      ? Option.some(parsed as StoredTokens)
      : Option.none()
  } catch {
    return Option.none()
  }
}

/**
 * The OAuth settings to connect with: the pair stored after the last refresh when it grew from
 * the environment's refresh token, else the environment's own; and a refresh hook that stores
 * each new pair before calling the pipeline's own `onRefresh`.
 */
export const withStoredTokens = (
  auth: Bitrix24Client.OAuthAuth,
  credentials: Sink.Credentials,
): Effect.Effect<Bitrix24Client.OAuthAuth, SinkError> =>
  Effect.gen(function* () {
    const name = credentialName(auth)
    const seed = seedOf(auth.refreshToken)
    const text = yield* credentials.load(name).pipe(
      Effect.mapError(
        (e) =>
          new SinkError({
            sink: "bitrix24",
            reason: "fatal",
            code: "STATE",
            message: `cannot read the stored OAuth tokens for ${name}: ${e.message}`,
          }),
      ),
    )
    let start = { accessToken: auth.accessToken, refreshToken: auth.refreshToken }
    if (Option.isSome(text)) {
      const stored = decrypt(auth.clientSecret, name, text.value)
      if (Option.isNone(stored))
        yield* Effect.logWarning(
          `Bitrix24: the OAuth tokens stored for ${name} cannot be read with this client secret; starting from the configured refresh token`,
        )
      else if (stored.value.seed === seed) {
        start = {
          accessToken: Redacted.make(stored.value.accessToken),
          refreshToken: Redacted.make(stored.value.refreshToken),
        }
        yield* Effect.logDebug(`Bitrix24: using the OAuth tokens stored after the last refresh for ${name}`)
      }
    }
    const onRefresh = (tokens: Bitrix24Client.OAuthTokens) =>
      credentials
        .save(
          name,
          encrypt(auth.clientSecret, name, {
            seed,
            accessToken: Redacted.value(tokens.accessToken),
            refreshToken: Redacted.value(tokens.refreshToken),
          }),
        )
        .pipe(
          Effect.catchAll((e) =>
            Effect.logError(
              `Bitrix24: could not store the rotated OAuth tokens for ${name} (${e.message}); the next run will start from the configured refresh token, which the portal no longer accepts: authorise the app again if it fails`,
            ),
          ),
          Effect.zipRight(auth.onRefresh === undefined ? Effect.void : auth.onRefresh(tokens)),
        )
    return { ...auth, ...start, onRefresh }
  })
