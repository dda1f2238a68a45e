/**
 * A `batch` of one method's commands (`crm.item.update`, `crm.item.delete`), up to 50 in one
 * request: the commands as query strings and their answers read back one by one, keyed `c0`,
 * `c1`... in the order sent. Every command answers on its own (`result` or `result_error`).
 */
import { Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import * as Form from "../form.js"
import { isObject } from "./requests.js"

/** Commands per `batch`. */
export const batchSize = 50

/** What one command answered. */
export type CommandAnswer =
  | { readonly _tag: "Ok"; readonly result: unknown }
  | { readonly _tag: "Error"; readonly code: string; readonly message: string }
  | { readonly _tag: "Missing" }

const answers = (
  client: Bitrix24Client.Client,
  method: string,
  answer: Bitrix24Client.Answer,
  count: number,
): ReadonlyArray<CommandAnswer> => {
  const r = isObject(answer.result) ? answer.result : {}
  const part = (k: string): Record<string, unknown> =>
    isObject(r[k]) ? (r[k] as Record<string, unknown>) : {}
  const ok = part("result")
  const errors = part("result_error")
  const times = part("result_time")
  // The commands spend the method's own budget, which the batch's `time` does not show; the
  // last command's figure is the latest.
  const lastTime = times[`c${count - 1}`]
  if (isObject(lastTime)) client.operating.record(method, lastTime)
  return Array.from({ length: count }, (_, i): CommandAnswer => {
    const key = `c${i}`
    const error = errors[key]
    if (isObject(error)) {
      return {
        _tag: "Error",
        code: String(error.error ?? "UNKNOWN_ERROR"),
        message: typeof error.error_description === "string" ? error.error_description : "",
      }
    }
    return ok[key] !== undefined ? { _tag: "Ok", result: ok[key] } : { _tag: "Missing" }
  })
}

/**
 * Sends `params` as `method` commands of one `batch` (`halt: 0`: a failing command does not stop
 * the others) and answers each command's outcome, in order. Sent as idempotent: the callers' commands
 * leave the same result when repeated.
 */
export const send = (
  client: Bitrix24Client.Client,
  method: string,
  params: ReadonlyArray<Readonly<Record<string, unknown>>>,
): Effect.Effect<ReadonlyArray<CommandAnswer>, Bitrix24Client.Bitrix24Error> => {
  const cmd: Record<string, string> = {}
  params.forEach((p, i) => {
    cmd[`c${i}`] = `${method}?${Form.encode(p)}`
  })
  return client
    .call("batch", { halt: 0, cmd }, { idempotent: true, budgetMethods: [method] })
    .pipe(Effect.map((answer) => answers(client, method, answer, params.length)))
}
