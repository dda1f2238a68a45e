import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { syncWebshop } from "../pipelines/examples/programmatic.js"
import * as Legacy from "./support/legacy.js"

const LEAD = 1

const inquiries = [
  {
    id: "i-1",
    created_at: "2025-01-01T10:00:00Z",
    updated_at: "2025-01-01T10:00:00Z",
    name: "Anna Schmidt",
    email: "anna@example.com",
    phone: "+49 30 1234567",
    message: "Do you ship to Austria?",
    basket_value: 129.5,
  },
  {
    id: "i-2",
    created_at: "2025-01-02T10:00:00Z",
    updated_at: "2025-01-02T10:00:00Z",
    name: "Jürgen Groß",
    email: null,
    phone: "+49 171 2345678",
  },
  {
    id: "i-3",
    created_at: "2025-01-03T10:00:00Z",
    updated_at: "2025-01-03T10:00:00Z",
    name: "Test User",
    email: "qa@shop.example",
    test: true,
  },
  {
    id: "i-4",
    created_at: "2025-01-04T10:00:00Z",
    updated_at: "2025-01-04T10:00:00Z",
    name: "Broken Mail",
    email: "not-an-email",
  },
  {
    id: "i-5",
    created_at: "2025-01-05T10:00:00Z",
    updated_at: "2025-01-05T10:00:00Z",
    name: "Олег Петров",
    email: "oleg@example.ru",
    basket_value: 42,
  },
]

/** The web shop's API: bearer auth, records under `data`, cursor pagination, `updated_since`. */
const shopApi = () =>
  Effect.acquireRelease(
    Effect.async<{ url: string; close: () => void }>((resume) => {
      const server = createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://localhost")
        if (req.headers.authorization !== "Bearer shop-token") {
          res.writeHead(401, { "content-type": "application/json" }).end('{"error":"unauthorized"}')
          return
        }
        const since = url.searchParams.get("updated_since")
        const after = Number(url.searchParams.get("cursor") ?? 0)
        const matching = inquiries.filter((i) => since === null || i.updated_at > since)
        const page = matching.slice(after, after + 2)
        const next = after + 2 < matching.length ? String(after + 2) : null
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ data: page, meta: { next_cursor: next } }))
      })
      server.listen(0, "127.0.0.1", () =>
        resume(
          Effect.succeed({
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`,
            close: () => server.close(),
          }),
        ),
      )
    }),
    (api) => Effect.sync(() => api.close()),
  )

describe("programmatic use (pipelines/examples/programmatic.ts)", () => {
  it.live(
    "syncWebshop composes the webshop-leads pipeline and runs it with Effect.runPromise",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const api = yield* shopApi()
          const portal = yield* Legacy.portal()
          const stateDirectory = mkdtempSync(join(tmpdir(), "b24etl-programmatic-"))
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => rmSync(stateDirectory, { recursive: true, force: true })),
          )
          const options = {
            apiUrl: api.url,
            apiToken: "shop-token",
            webhookUrl: portal.webhookUrl,
            stateDirectory,
          }

          const report = yield* Effect.promise(() => syncWebshop(options))
          assert.strictEqual(report.status, "partial")
          const lead = report.entities[0]!
          assert.strictEqual(lead.read, 5)
          assert.strictEqual(lead.created, 3)
          assert.strictEqual(lead.skipped, 1, "the test inquiry is filtered out")
          assert.strictEqual(lead.failed, 1, "the bad e-mail is a dead letter")

          const leads = yield* portal.items(LEAD)
          const anna = leads.find((l) => l.originId === "lead:i-1")!
          assert.strictEqual(anna.title, "Web shop inquiry from Anna Schmidt")
          const emails = (anna.EMAIL as ReadonlyArray<{ VALUE: string; VALUE_TYPE: string }>).map((e) => [
            e.VALUE,
            e.VALUE_TYPE,
          ])
          assert.deepStrictEqual(emails, [["anna@example.com", "WORK"]])
          assert.strictEqual(Number(anna.opportunity), 129.5)
          assert.isDefined(leads.find((l) => l.name === "Олег Петров"))

          // Incremental: the next sync asks only for what changed since the checkpoint.
          const again = yield* Effect.promise(() => syncWebshop(options))
          assert.strictEqual(again.entities[0]!.read, 0)
          assert.strictEqual((yield* portal.items(LEAD)).length, 3)
        }),
      ),
    120_000,
  )
})
