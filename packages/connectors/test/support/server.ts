import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Fiber, Option, type Scope, TestClock } from "effect"

/** A request as the test server saw it. */
export interface Seen {
  readonly method: string
  readonly url: URL
  readonly headers: IncomingMessage["headers"]
  readonly body: string
}

/** What the handler answers; `hang` never answers (for timeouts). */
export interface Reply {
  readonly status?: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: unknown
  readonly raw?: string
  readonly hang?: boolean
}

export interface TestServer {
  readonly url: string
  readonly requests: Array<Seen>
  readonly seen: (path: string) => ReadonlyArray<Seen>
}

/** A real HTTP server on 127.0.0.1 and a free port, closed with the scope. */
export const serve = (
  handler: (request: Seen, server: TestServer) => Reply,
): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: ReturnType<typeof createServer>; readonly state: TestServer }>(
      (resume) => {
        const requests: Array<Seen> = []
        let state: TestServer
        const server = createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (c: Buffer) => chunks.push(c))
          req.on("end", () => {
            const seen: Seen = {
              method: req.method ?? "GET",
              url: new URL(req.url ?? "/", state.url),
              headers: req.headers,
              body: Buffer.concat(chunks).toString("utf8"),
            }
            requests.push(seen)
            const reply = handler(seen, state)
            if (reply.hang) return
            res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers })
            res.end(reply.raw ?? JSON.stringify(reply.body ?? null))
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const port = (server.address() as AddressInfo).port
          state = {
            url: `http://127.0.0.1:${port}`,
            requests,
            seen: (path) => requests.filter((r) => r.url.pathname === path),
          }
          resume(Effect.succeed({ server, state }))
        })
      },
    ),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      }),
  ).pipe(Effect.map(({ state }) => state))

/** Waits in real time (the test clock may be frozen) until `condition` holds. */
export const until = (condition: () => boolean, what: string, ms = 5000): Effect.Effect<void> =>
  Effect.promise(async () => {
    const start = Date.now()
    while (!condition()) {
      if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 5))
    }
  })

/** Lets real I/O happen for a moment without moving the test clock. */
export const settle = (ms = 50): Effect.Effect<void> =>
  Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

/** Runs an effect while the test clock moves a second at a time, so waits (`Retry-After`) pass at once. */
export const ticking = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    for (;;) {
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return yield* exit.value
      yield* settle(5)
      yield* TestClock.adjust("1 second")
    }
  })
