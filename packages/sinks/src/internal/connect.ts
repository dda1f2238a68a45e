/**
 * Connecting the Bitrix24 sink: the client (HTTP through @effect/platform, the rate limiter) and
 * the connection the runner writes through. Imported by `Bitrix24.ts` only when a run connects,
 * so a pipeline file that declares the sink loads none of it (`pipeline list` starts at once).
 */
import type * as Sink from "@b24etl/core/Sink"
import * as Effect from "effect/Effect"
import type { Bitrix24Config } from "../Bitrix24.js"
import * as Bitrix24Client from "../Bitrix24Client.js"
import * as Bitrix24Connection from "../Bitrix24Connection.js"
import * as OAuthTokens from "../OAuthTokens.js"
import type * as Target from "../Target.js"

/** The client for `c`'s portal and the connection over it; `portal` names it in messages. */
export const connect = (
  c: Bitrix24Config,
  { originator, dryRun, credentials, rateBuckets }: Parameters<Sink.Sink<Target.Target>["connect"]>[0],
) =>
  Effect.gen(function* () {
    // Refresh tokens rotate: start from the pair the last refresh stored, and store the next.
    const auth =
      c.auth._tag === "OAuth" && credentials !== undefined
        ? yield* OAuthTokens.withStoredTokens(c.auth, credentials)
        : c.auth
    const client = yield* Bitrix24Client.make({
      auth,
      limits: c.limits,
      timeout: c.timeout,
      retry: c.retry,
      operatingTime: c.operatingTime,
      ca: c.ca,
      rateBuckets,
    }).pipe(Effect.mapError((e) => Bitrix24Connection.toSinkError(e, true)))
    const connection = yield* Bitrix24Connection.make(client, {
      originator,
      dryRun,
      concurrency: c.concurrency,
      packing: c.packing,
    })
    return { portal: client.portal, connection }
  })
