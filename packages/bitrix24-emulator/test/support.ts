import { assert } from "@effect/vitest"
import { Effect } from "effect"
import * as FormBody from "../src/FormBody.js"

export interface Answer {
  readonly status: number
  // biome-ignore lint/suspicious/noExplicitAny: answers are asserted field by field
  readonly body: any
}

/** POSTs JSON (or a PHP-style form when `form` is set) and reads the JSON answer. */
export const post = (url: string, body: Record<string, unknown> = {}, options: { form?: boolean } = {}) =>
  Effect.promise(async (): Promise<Answer> => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": options.form ? "application/x-www-form-urlencoded" : "application/json" },
      body: options.form ? FormBody.stringify(body) : JSON.stringify(body),
    })
    return { status: response.status, body: await response.json() }
  })

/** Like `post`, but a dropped connection is a value, not a defect. */
export const postOrReset = (url: string, body: Record<string, unknown> = {}) =>
  Effect.tryPromise(async (): Promise<Answer> => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", connection: "close" },
      body: JSON.stringify(body),
    })
    return { status: response.status, body: await response.json() }
  }).pipe(Effect.either)

/** The documented `time` object. */
export const assertTime = (time: Record<string, unknown>) => {
  for (const key of ["start", "finish", "duration", "processing", "operating", "operating_reset_at"]) {
    assert.strictEqual(typeof time[key], "number", key)
  }
  assert.match(String(time.date_start), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/)
  assert.match(String(time.date_finish), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/)
}

export const assertError = (answer: Answer, status: number, code: string, description?: string) => {
  assert.strictEqual(answer.status, status)
  assert.strictEqual(answer.body.error, code)
  if (description !== undefined) assert.strictEqual(answer.body.error_description, description)
}

/** GETs a URL and reads the JSON answer. */
export const get = (url: string) =>
  Effect.promise(async (): Promise<Answer> => {
    const response = await fetch(url)
    return { status: response.status, body: await response.json() }
  })
