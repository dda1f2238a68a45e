/**
 * Type tests: the record type flows from `from` (and `schema`, `steps`) into `map`,
 * `deleted.when` and `steps` inside `Pipeline.make`. Checked by `pnpm typecheck` (this folder is
 * part of test/tsconfig.json): every `@ts-expect-error` below must stay an error, and every
 * `expectTypeOf` must hold, or the typecheck fails. Nothing here runs.
 */
import * as Memory from "@b24etl/connectors/Memory"
import * as Postgres from "@b24etl/connectors/Postgres"
import * as Rest from "@b24etl/connectors/Rest"
import * as Sql from "@b24etl/connectors/Sql"
import * as Pipeline from "@b24etl/core/Pipeline"
import { ref } from "@b24etl/core/Reference"
import * as Step from "@b24etl/core/Step"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { Config, Schema } from "effect"
import { expectTypeOf } from "vitest"

interface Customer {
  readonly id: number
  readonly name: string
  readonly phone: string | null
}
interface Person {
  readonly id: number
  readonly customer_id: number | null
  readonly first_name: string
}

const legacy = Postgres.source({ name: "legacy-crm", url: Config.redacted("LEGACY_DATABASE_URL") })
const sql = Sql.source({ name: "legacy-sql", url: Config.redacted("LEGACY_DATABASE_URL") })
const memory = Memory.source("memory", { people: [] })
const api = Rest.source({ name: "shop", baseUrl: "https://shop.example.com/api/" })

// The README's first example, verbatim but for the typo: `r.nmae` must not type-check.
export const readmeExample = Pipeline.make({
  name: "companies",
  sink: Bitrix24.fromEnv(),
  entities: {
    company: Pipeline.entity({
      from: legacy.table<Customer>("customers", { key: "id", cursor: "updated_at" }),
      to: Bitrix24.company,
      map: (r) => {
        expectTypeOf(r).toEqualTypeOf<Customer>()
        // @ts-expect-error a misspelt column is a type error inside Pipeline.make
        return { title: r.nmae, PHONE: Bitrix24.phones(r.phone) }
      },
    }),
  },
})

// Every source kind: table, query, records, endpoint.
export const everySource = Pipeline.make({
  name: "every-source",
  sink: Bitrix24.fromEnv(),
  entities: {
    company: Pipeline.entity({
      from: sql.query<Customer>("select * from customers", { key: "id" }),
      to: Bitrix24.company,
      deleted: {
        when: (r) => {
          expectTypeOf(r).toEqualTypeOf<Customer>()
          // @ts-expect-error deleted.when sees the same record type
          return r.deleted_at !== null
        },
        policy: "ignore",
      },
      map: (r) => ({ title: r.name }),
    }),
    contact: Pipeline.entity({
      from: memory.records<Person>("people", { key: "id" }),
      to: Bitrix24.contact,
      references: ["company"],
      // @ts-expect-error a misspelt column from a memory source
      map: (r) => ({ name: r.first_nmae, companyId: ref("company", r.customer_id) }),
    }),
    lead: Pipeline.entity({
      from: api.endpoint<Person>("people", { key: "id" }),
      to: Bitrix24.lead,
      map: (r) => {
        expectTypeOf(r).toEqualTypeOf<Person>()
        return { name: r.first_name }
      },
    }),
  },
})

// A schema decides the decoded type; steps change it; map sees what the steps return. A step
// written inline takes its record type from its own parameter's annotation (TypeScript checks
// `steps` before it knows the row type of `from`), and a wrong annotation is an error.
const Row = Schema.Struct({ id: Schema.Number, name: Schema.String })
type Decoded = typeof Row.Type
export const withSchemaAndSteps = Pipeline.make({
  name: "schema-steps",
  sink: Bitrix24.fromEnv(),
  entities: {
    company: Pipeline.entity({
      from: legacy.table("customers", { key: "id" }),
      schema: Row,
      to: Bitrix24.company,
      steps: Step.pipe(
        Step.filter((r: Decoded) => r.name !== ""),
        Step.map((r) => ({ ...r, upper: r.name.toUpperCase() })),
      ),
      map: (r) => {
        expectTypeOf(r.upper).toEqualTypeOf<string>()
        expectTypeOf(r.id).toEqualTypeOf<number>()
        // @ts-expect-error a field the steps did not produce
        return { title: r.lower }
      },
    }),
    contact: Pipeline.entity({
      from: legacy.table<Person>("people", { key: "id" }),
      // @ts-expect-error a step for another record type
      steps: Step.filter((r: Customer) => r.name !== ""),
      to: Bitrix24.contact,
      map: (r) => ({ name: String(r.id) }),
    }),
    lead: Pipeline.entity({
      from: legacy.table<Person>("people", { key: "id" }),
      schema: Row,
      to: Bitrix24.lead,
      map: (r) => {
        expectTypeOf(r).toEqualTypeOf<Decoded>()
        // @ts-expect-error the schema decides the fields, not the row type
        return { name: r.first_name }
      },
    }),
  },
})
