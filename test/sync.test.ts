/**
 * Keeping a portal equal to the source after the migration, on the emulator over HTTP: a
 * misspelt field stops `run` and `run --dry-run` before any write; `--full` re-applies a changed
 * mapping to exactly the items it changes; the `delete` policy deletes items the source marks
 * deleted and creates them again when the source brings them back.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Memory from "@b24etl/connectors/Memory"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Progress from "@b24etl/core/Progress"
import { ref } from "@b24etl/core/Reference"
import * as Runner from "@b24etl/core/Runner"
import { StateStore } from "@b24etl/core/StateStore"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "./support/cli.js"
import * as Legacy from "./support/legacy.js"

const COMPANY = 4
const CONTACT = 3

/** Methods that change a portal: none may be called before the field check passes. */
const writes = new Set([
  "crm.item.add",
  "crm.item.batchImport",
  "crm.item.update",
  "crm.item.delete",
  "batch",
])

interface Company {
  readonly id: number
  name: string
  updated: number
  deleted: boolean
}

interface Person {
  readonly id: number
  name: string
  company_id: number | null
  deleted: boolean
}

/** Companies (incremental, a cursor on `updated`) and their contacts, synced to `webhookUrl`. */
const crm = (name: string, webhookUrl: string) => {
  const data = {
    companies: Array.from(
      { length: 6 },
      (_, i): Company => ({ id: i + 1, name: `Company ${i + 1}`, updated: 100 + i, deleted: false }),
    ),
    people: Array.from(
      { length: 12 },
      (_, i): Person => ({ id: i + 1, name: `Person ${i + 1}`, company_id: (i % 6) + 1, deleted: false }),
    ),
  }
  const mapping = { suffix: (_: Company): string => "" }
  const source = Memory.source("crm", data as unknown as Record<string, Array<Record<string, unknown>>>)
  const pipeline = Pipeline.make({
    name,
    sink: Bitrix24.sink(Bitrix24.webhook(webhookUrl), { rate: "unlimited" }),
    entities: {
      company: Pipeline.entity({
        from: source.records<Company>("companies", { key: "id", cursor: "updated" }),
        to: Bitrix24.company,
        map: (r) => ({ title: `${r.name}${mapping.suffix(r)}` }),
        deleted: { when: (r) => r.deleted, policy: "delete" },
      }),
      contact: Pipeline.entity({
        from: source.records<Person>("people", { key: "id" }),
        to: Bitrix24.contact,
        references: ["company"],
        map: (r) => ({ name: r.name, companyId: ref("company", r.company_id) }),
        deleted: { when: (r) => r.deleted, policy: "delete" },
      }),
    },
  })
  return { data, mapping, pipeline }
}

const run = (pipeline: Pipeline.Pipeline, options: Runner.RunOptions = {}) =>
  Runner.run(pipeline, options).pipe(Effect.provide(Progress.silent))

const byOrigin = (items: ReadonlyArray<Record<string, unknown>>, origin: string) =>
  items.find((i) => i.originId === origin)

describe("sync on the emulator", () => {
  it.live(
    "a mapping with `titel`: run and run --dry-run exit 1 before any portal write, naming `title`",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const portal = yield* Legacy.portal()
          const state = mkdtempSync(join(tmpdir(), "b24etl-e2e-sync14-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(state, { recursive: true, force: true })))
          const env = {
            PIPELINE_DIR: join(Cli.root, "test/fixtures/pipelines"),
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
          }
          for (const args of [
            ["run", "misspelt", "--state", state],
            ["run", "misspelt", "--dry-run", "--state", state],
          ]) {
            const done = yield* Effect.promise(() => Cli.start(args, env).done)
            const output = done.stdout + done.stderr
            assert.strictEqual(done.code, 1, output)
            assert.include(
              output,
              'company.titel: company has no field "titel"; did you mean "title"?',
              output,
            )
            assert.include(output, "nothing was written")
            assert.notInclude(output, portal.webhookUrl.split("/")[5]!, "the webhook code is never printed")
          }
          const log = yield* portal.requestLog
          assert.isTrue(
            log.some((e) => e.method === "crm.item.fields"),
            "the fields were checked against the portal",
          )
          assert.deepStrictEqual(
            log.filter((e) => writes.has(e.method)).map((e) => e.method),
            [],
            "nothing was sent that writes",
          )
          assert.strictEqual((yield* portal.items(COMPANY)).length, 0)
        }),
      ),
    180_000,
  )

  it.live(
    "--full after a mapping change updates exactly the changed items, 0 creates",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const portal = yield* Legacy.portal()
          const { mapping, pipeline } = crm("sync14-full", portal.webhookUrl)
          const first = yield* run(pipeline)
          assert.strictEqual(first.status, "succeeded", first.error)
          mapping.suffix = (r) => (r.id % 3 === 0 ? " GmbH" : "")

          const planned = yield* Runner.plan(pipeline, { full: true })
          assert.deepStrictEqual(planned.entities[0]!.changed, { updates: 2, creates: 0 })

          const incremental = yield* run(pipeline)
          assert.strictEqual(incremental.entities[0]!.read, 0, "the checkpoint skips every company")
          const full = yield* run(pipeline, { full: true })
          assert.strictEqual(full.status, "succeeded", full.error)
          assert.deepStrictEqual(
            full.entities.map((e) => [e.entity, e.read, e.created, e.updated, e.unchanged]),
            [
              ["company", 6, 0, 2, 4],
              ["contact", 12, 0, 0, 12],
            ],
          )
          const companies = yield* portal.items(COMPANY)
          assert.strictEqual(companies.length, 6)
          assert.deepStrictEqual(companies.map((c) => c.title).sort(), [
            "Company 1",
            "Company 2",
            "Company 3 GmbH",
            "Company 4",
            "Company 5",
            "Company 6 GmbH",
          ])
          const again = yield* run(pipeline, { full: true })
          assert.deepStrictEqual(
            again.entities.map((e) => [e.entity, e.created, e.updated]),
            [
              ["company", 0, 0],
              ["contact", 0, 0],
            ],
          )
        }).pipe(Effect.provide(Legacy.stateStore("postgres", "b24etl_e2e_sync14_full"))),
      ),
    300_000,
  )

  it.live(
    "delete policy: the item is gone from the portal, the id map says deleted, undeleting creates it again",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const portal = yield* Legacy.portal()
          const { data, pipeline } = crm("sync14-delete", portal.webhookUrl)
          const store = yield* StateStore
          const first = yield* run(pipeline)
          assert.strictEqual(first.status, "succeeded", first.error)
          const oldId = byOrigin(yield* portal.items(COMPANY), "company:2")!.id

          // Company 2 and one of its contacts (2; 8 stays) are deleted in the source.
          data.companies[1]!.deleted = true
          data.companies[1]!.updated = 200
          data.people[1]!.deleted = true
          const report = yield* run(pipeline)
          assert.strictEqual(report.status, "succeeded", report.error)
          assert.deepStrictEqual(
            report.entities.map((e) => [e.entity, e.deleted]),
            [
              ["company", 1],
              ["contact", 1],
            ],
          )
          assert.isUndefined(byOrigin(yield* portal.items(COMPANY), "company:2"))
          assert.isUndefined(byOrigin(yield* portal.items(CONTACT), "contact:2"))
          assert.strictEqual((yield* portal.items(CONTACT)).length, 11)
          assert.strictEqual(
            (yield* store.lookup("sync14-delete", "company", ["2"])).get("2")!.status,
            "deleted",
          )
          assert.strictEqual(
            (yield* store.lookup("sync14-delete", "contact", ["2"])).get("2")!.status,
            "deleted",
          )
          const log = yield* portal.requestLog
          assert.isTrue(log.some((e) => e.method === "batch"))

          // Brought back in the source: created again, with a new id, and its contact linked to it.
          data.companies[1]!.deleted = false
          data.companies[1]!.updated = 300
          data.people[1]!.deleted = false
          const back = yield* run(pipeline)
          assert.strictEqual(back.status, "succeeded", back.error)
          assert.deepStrictEqual(
            back.entities.map((e) => [e.entity, e.created, e.deleted]),
            [
              ["company", 1, 0],
              ["contact", 1, 0],
            ],
          )
          const company = byOrigin(yield* portal.items(COMPANY), "company:2")!
          assert.notStrictEqual(company.id, oldId)
          assert.strictEqual(
            Number(byOrigin(yield* portal.items(CONTACT), "contact:2")!.companyId),
            company.id,
          )
          assert.strictEqual(
            (yield* store.lookup("sync14-delete", "company", ["2"])).get("2")!.status,
            "created",
          )
        }).pipe(Effect.provide(Legacy.stateStore("postgres", "b24etl_e2e_sync14_delete"))),
      ),
    300_000,
  )

  it.live(
    "a contact whose company was deleted and created again is linked to the new id, then sends nothing",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const portal = yield* Legacy.portal()
          const { data, pipeline } = crm("relinkfix-recreated", portal.webhookUrl)
          const contactOf = (key: number) =>
            Effect.map(portal.items(CONTACT), (items) => byOrigin(items, `contact:${key}`)!)
          const first = yield* run(pipeline)
          assert.strictEqual(first.status, "succeeded", first.error)
          const oldId = byOrigin(yield* portal.items(COMPANY), "company:2")!.id
          // Contact 8 links company 2 (people map to companies 1..6 in turn); it stays in the source.
          assert.strictEqual(Number((yield* contactOf(8)).companyId), oldId)

          data.companies[1]!.deleted = true
          data.companies[1]!.updated = 200
          const deleting = yield* run(pipeline)
          assert.strictEqual(deleting.status, "succeeded", deleting.error)
          assert.deepStrictEqual(
            deleting.entities.map((e) => [e.entity, e.deleted, e.updated]),
            [
              ["company", 1, 0],
              ["contact", 0, 0],
            ],
          )
          assert.isUndefined(byOrigin(yield* portal.items(COMPANY), "company:2"))

          data.companies[1]!.deleted = false
          data.companies[1]!.updated = 300
          const dry = yield* run(pipeline, { dryRun: true })
          assert.deepStrictEqual(
            dry.entities.map((e) => [e.entity, e.created, e.updated]),
            [
              ["company", 1, 0],
              ["contact", 0, 2],
            ],
            "a dry run counts the links it would update",
          )
          const back = yield* run(pipeline)
          assert.strictEqual(back.status, "succeeded", back.error)
          const company = byOrigin(yield* portal.items(COMPANY), "company:2")!
          assert.notStrictEqual(company.id, oldId)
          assert.deepStrictEqual(
            back.entities.map((e) => [e.entity, e.created, e.updated]),
            [
              ["company", 1, 0],
              ["contact", 0, 2],
            ],
            "contacts 2 and 8 link company 2: each is sent its new id once",
          )
          for (const key of [2, 8]) assert.strictEqual(Number((yield* contactOf(key)).companyId), company.id)
          assert.strictEqual(
            Number((yield* contactOf(1)).companyId),
            byOrigin(yield* portal.items(COMPANY), "company:1")!.id,
          )

          const before = (yield* portal.requestLog).length
          const again = yield* run(pipeline)
          assert.strictEqual(again.status, "succeeded", again.error)
          assert.deepStrictEqual(
            again.entities.map((e) => [e.entity, e.created, e.updated, e.unchanged]),
            [
              ["company", 0, 0, 0],
              ["contact", 0, 0, 12],
            ],
          )
          assert.deepStrictEqual(
            (yield* portal.requestLog)
              .slice(before)
              .filter((e) => writes.has(e.method))
              .map((e) => e.method),
            [],
            "a rerun with nothing changed writes nothing",
          )
        }).pipe(Effect.provide(Legacy.stateStore("postgres", "b24etl_e2e_relinkfix_recreated"))),
      ),
    300_000,
  )

  it.live(
    "from the command line: plan --full counts, run --full updates only what changed, a delete shows in the report",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const portal = yield* Legacy.portal()
          const state = mkdtempSync(join(tmpdir(), "b24etl-e2e-sync14-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(state, { recursive: true, force: true })))
          const env = {
            PIPELINE_DIR: join(Cli.root, "test/fixtures/pipelines"),
            BITRIX24_WEBHOOK_URL: portal.webhookUrl,
            BITRIX24_RATE: "unlimited",
          }
          const cli = (args: ReadonlyArray<string>, extra: Record<string, string> = {}) =>
            Effect.promise(() => Cli.start([...args, "--state", state], { ...env, ...extra }).done)

          const first = yield* cli(["run", "resync"])
          assert.strictEqual(first.code, 0, first.stdout + first.stderr)
          assert.include(
            first.stdout,
            "Warnings: 2 values dropped by field helpers (duplicate, empty or invalid)",
          )
          const warnings = yield* cli(["failures", "resync", "--warnings"])
          assert.strictEqual(warnings.code, 0, warnings.stdout + warnings.stderr)
          assert.match(warnings.stdout, /ENTITY\s+KEY\s+FIELD\s+VALUE\s+REASON/)
          assert.match(warnings.stdout, /company\s+1\s+PHONE\s+\+49 30 100\s+duplicate/)
          assert.match(warnings.stdout, /company\s+4\s+PHONE\s+n\/a\s+invalid/)

          const changed = { RESYNC_SUFFIX: " AG" }
          const planned = yield* cli(["plan", "resync", "--full"], changed)
          assert.strictEqual(planned.code, 0, planned.stdout + planned.stderr)
          assert.include(
            planned.stdout,
            "Changed since last written (run --full): company: 2 to update, 0 to create",
          )

          // Without --full the checkpoint skips every company: nothing is read.
          const incremental = yield* cli(["run", "resync", "--json"], changed)
          assert.strictEqual(JSON.parse(incremental.stdout).entities[0].read, 0)

          const full = yield* cli(["run", "resync", "--full", "--json"], changed)
          assert.strictEqual(full.code, 0, full.stdout + full.stderr)
          const entity = JSON.parse(full.stdout).entities[0]
          assert.deepStrictEqual(
            [entity.read, entity.created, entity.updated, entity.unchanged],
            [6, 0, 2, 4],
          )
          assert.deepStrictEqual((yield* portal.items(COMPANY)).map((c) => c.title).sort(), [
            "Resync 1",
            "Resync 2",
            "Resync 3 AG",
            "Resync 4",
            "Resync 5",
            "Resync 6 AG",
          ])

          const deleting = yield* cli(["run", "resync", "--full"], { ...changed, RESYNC_DELETED: "2,5" })
          assert.strictEqual(deleting.code, 0, deleting.stdout + deleting.stderr)
          assert.match(deleting.stdout, /CREATED\s+UPDATED\s+DELETED\s+UNCHANGED/)
          assert.match(deleting.stdout, /company\s+company\s+6\s+0\s+0\s+2\s+4/)
          assert.deepStrictEqual((yield* portal.items(COMPANY)).map((c) => c.originId).sort(), [
            "company:1",
            "company:3",
            "company:4",
            "company:6",
          ])
        }),
      ),
    240_000,
  )
})
