/**
 * webshop-leads: a second, different pipeline — inquiries from a web shop's REST API become
 * Bitrix24 leads. It shows a REST source with cursor pagination and incremental reads, a Schema
 * that decodes (and rejects) records, a filter step, and a user field.
 *
 *   WEBSHOP_API_URL=https://shop.example.com/api/ WEBSHOP_API_TOKEN=… \
 *   BITRIX24_WEBHOOK_URL=https://yourcompany.bitrix24.com/rest/1/…/ \
 *   pnpm pipeline run pipelines/examples/webshop-leads.ts
 */

import * as Pagination from "@b24etl/connectors/Pagination"
import * as Rest from "@b24etl/connectors/Rest"
import * as RestAuth from "@b24etl/connectors/RestAuth"
import * as Pipeline from "@b24etl/core/Pipeline"
import * as Step from "@b24etl/core/Step"
import * as Bitrix24 from "@b24etl/sinks/Bitrix24"
import { Config, type Redacted, Schema } from "effect"

/** An inquiry as the shop's API returns it. */
export const Inquiry = Schema.Struct({
  id: Schema.String,
  created_at: Schema.String,
  updated_at: Schema.String,
  name: Schema.NonEmptyTrimmedString,
  email: Schema.optionalWith(Schema.String.pipe(Schema.pattern(/^[^@\s]+@[^@\s]+\.[^@\s]+$/)), {
    nullable: true,
  }),
  phone: Schema.optionalWith(Schema.String, { nullable: true }),
  message: Schema.optionalWith(Schema.String, { nullable: true }),
  basket_value: Schema.optionalWith(Schema.Number, { nullable: true }),
  test: Schema.optionalWith(Schema.Boolean, { default: () => false }),
})
export type Inquiry = typeof Inquiry.Type

export interface WebshopOptions {
  readonly apiUrl: string | Config.Config<string>
  readonly token: Redacted.Redacted<string> | Config.Config<Redacted.Redacted<string>>
  readonly sink: Pipeline.AnySink
}

export const webshopLeads = (options: WebshopOptions) => {
  const shop = Rest.source({ name: "webshop", baseUrl: options.apiUrl, auth: RestAuth.bearer(options.token) })
  return Pipeline.make({
    name: "webshop-leads",
    description: "Web shop inquiries into Bitrix24 leads",
    sink: options.sink,
    schedule: { cron: "*/5 * * * *" },
    entities: {
      lead: Pipeline.entity({
        from: shop.endpoint("inquiries", {
          key: "id",
          records: "data",
          pagination: Pagination.cursor({ next: "meta.next_cursor" }),
          incremental: { param: "updated_since", cursorField: "updated_at" },
        }),
        schema: Inquiry,
        // Inquiries the shop's staff made to test the form never reach the CRM.
        steps: Step.filter((i: Inquiry) => !i.test, "skip test inquiries"),
        to: Bitrix24.lead,
        map: (i) => ({
          title: `Web shop inquiry from ${i.name}`,
          name: i.name,
          EMAIL: Bitrix24.emails(i.email),
          PHONE: Bitrix24.phones(i.phone),
          comments: i.message ?? undefined,
          opportunity: i.basket_value ?? undefined,
          currencyId: "EUR",
          sourceId: "WEB",
          sourceDescription: "web shop contact form",
        }),
      }),
    },
  })
}

export default webshopLeads({
  apiUrl: Config.string("WEBSHOP_API_URL"),
  token: Config.redacted("WEBSHOP_API_TOKEN"),
  sink: Bitrix24.fromEnv(),
})
