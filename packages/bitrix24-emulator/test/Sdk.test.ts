/**
 * A client no one here wrote: the official `@bitrix24/b24jssdk`, given the emulator's webhook URL.
 * The SDK refuses plain http, so the emulator serves HTTPS with the certificate it generated at start;
 * the SDK's axios client is told to trust that certificate (no global TLS switch).
 */
import * as https from "node:https"
import { ApiVersion, B24Hook } from "@bitrix24/b24jssdk"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Emulator from "../src/Emulator.js"

const hookFor = (emulator: Emulator.Service) => {
  const b24 = B24Hook.fromWebhookUrl(emulator.webhookUrl)
  b24.getHttpClient(ApiVersion.v2).ajaxClient.defaults.httpsAgent = new https.Agent({
    ca: emulator.certificate,
  })
  return b24
}

layer(Emulator.layer({ https: true }), { excludeTestServices: true, timeout: "60 seconds" })(
  "@bitrix24/b24jssdk against the emulator",
  (it) => {
    it.effect("refuses the plain-http form of the URL, as API-NOTES says", () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.Emulator
        assert.isTrue(emulator.url.startsWith("https://"))
        assert.throws(() => B24Hook.fromWebhookUrl(emulator.webhookUrl.replace("https://", "http://")))
      }),
    )

    it.effect("crm.item.batchImport, crm.item.list (single page and the SDK's paging) and batch", () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.Emulator
        const b24 = hookFor(emulator)

        for (let chunk = 0; chunk < 3; chunk++) {
          const data = Array.from({ length: 20 }, (_, i) => ({
            title: `Company ${chunk * 20 + i + 1}`,
            originatorId: "legacy",
            originId: `c:${chunk * 20 + i + 1}`,
            PHONE: [{ VALUE: `+1 555 01${i}`, VALUE_TYPE: "WORK" }],
          }))
          const imported = yield* Effect.promise(() =>
            b24.actions.v2.call.make<{ items: Array<{ item?: { id: number } }> }>({
              method: "crm.item.batchImport",
              params: { entityTypeId: 4, data },
            }),
          )
          assert.isTrue(imported.isSuccess, imported.getErrorMessages().join("; "))
          const items = imported.getData()!.result.items
          assert.strictEqual(items.length, 20)
          assert.deepStrictEqual(items[0], { item: { id: chunk * 20 + 1 } })
        }

        const page = yield* Effect.promise(() =>
          b24.actions.v2.call.make<{ items: Array<{ id: number; title: string }> }>({
            method: "crm.item.list",
            params: { entityTypeId: 4, select: ["id", "title"], filter: { "@originId": ["c:2", "c:41"] } },
          }),
        )
        assert.isTrue(page.isSuccess, page.getErrorMessages().join("; "))
        assert.deepStrictEqual(
          page.getData()!.result.items.map((i) => i.title),
          ["Company 2", "Company 41"],
        )
        assert.strictEqual(page.getTotal(), 2)

        const all = yield* Effect.promise(() =>
          b24.actions.v2.callList.make<{ id: number }>({
            method: "crm.item.list",
            params: { entityTypeId: 4, select: ["id"] },
            idKey: "id",
            customKeyForResult: "items",
          }),
        )
        assert.isTrue(all.isSuccess, all.getErrorMessages().join("; "))
        assert.strictEqual(all.getData()!.length, 60)

        const batch = yield* Effect.promise(() =>
          b24.actions.v2.batch.make({
            calls: {
              first: { method: "crm.item.get", params: { entityTypeId: 4, id: 1 } },
              page: { method: "crm.item.list", params: { entityTypeId: 4, select: ["id"], start: 50 } },
              update: {
                method: "crm.item.update",
                params: { entityTypeId: 4, id: 2, fields: { title: "Renamed" } },
              },
            },
            options: { isHaltOnError: true, returnAjaxResult: false },
          }),
        )
        assert.isTrue(batch.isSuccess, batch.getErrorMessages().join("; "))
        // biome-ignore lint/suspicious/noExplicitAny: the SDK types batch data loosely
        const data = batch.getData() as any
        assert.strictEqual(data.first.item.title, "Company 1")
        assert.strictEqual(data.page.items.length, 10)
        assert.strictEqual(data.update.item.title, "Renamed")
        assert.strictEqual(emulator.store.get(4, 2)!.title, "Renamed")
      }),
    )
  },
)
