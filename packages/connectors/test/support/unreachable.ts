import { createServer, type Socket } from "node:net"
import { Effect } from "effect"

/**
 * Deterministic ways to be unreachable, for the pre-flight tests of sources (here) and of whole
 * runs (`test/preflight.test.ts`).
 */

/** A port nothing listens on: taken from the system, then closed. */
export const closedPort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = createServer()
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as { port: number }).port
        server.close(() => resolve(port))
      })
    }),
)

/** A server that accepts connections and never says a word: a database that hangs, a blackholed portal. */
export const silentServer = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ port: number; close: () => Promise<void> }>((resolve) => {
        const sockets = new Set<Socket>()
        const server = createServer((socket) => {
          sockets.add(socket)
          socket.on("error", () => {})
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({
            port: (server.address() as { port: number }).port,
            close: () =>
              new Promise<void>((done) => {
                for (const s of sockets) s.destroy()
                server.close(() => done())
              }),
          }),
        )
      }),
  ),
  (server) => Effect.promise(server.close),
)
