/**
 * Packed imports: several `crm.item.batchImport` commands (20 items each) in one `batch` request.
 * The portal's request limit counts HTTP requests, and a `batch` of up to 50 commands is one
 * (API-NOTES "Limits"), so where the execution time per item is small a request carries up to
 * 1,000 items instead of 20.
 *
 * The vendor does not document `crm.item.batchImport` inside `batch` (nothing forbids it; no text
 * shows it, API-NOTES "batch"), so packing starts only after a probe that creates nothing: a nested
 * `crm.item.batchImport` without `data`. A portal that runs the command answers it with the missing
 * parameter (code `100`) or an empty result; one that refuses it inside `batch` answers
 * `ERROR_BATCH_METHOD_NOT_ALLOWED` (or anything else), and the sink keeps to plain `batchImport`.
 *
 * How many commands one request carries adapts to what the portal reports: the cost per item learned
 * from `time.processing` keeps one request's portal time at a third of the 60 s cap, and the room left
 * in the operating budgets of `crm.item.batchImport` and of `batch` (whichever the portal charges:
 * the vendor's page says the commands' own methods, a 2026 measurement found `batch`) bounds the
 * rest. The batch runs with `halt: 1`, so the commands run in order and none after a refused one:
 * the items keep their order across requests (history imports), and commands left unrun are sent
 * again, never guessed at.
 */
import * as Sink from "@b24etl/core/Sink"
import { Clock, Effect } from "effect"
import type * as Bitrix24Client from "../../Bitrix24Client.js"
import type * as OperatingTime from "../../OperatingTime.js"
import type * as Target from "../../Target.js"
import { classify } from "../client/errors.js"
import * as Form from "../form.js"
import { isObject, sinkName, toSinkError } from "./requests.js"

/** `auto`: packed after a successful probe; `off`: plain `crm.item.batchImport` only. */
export type Packing = "auto" | "off"

/** The method packed. */
export const importMethod = "crm.item.batchImport"

/** Items per `crm.item.batchImport` command. */
export const commandSize = 20
/** Commands per `batch`. */
export const maxCommands = 50
/** Items one packed request carries at most: what the sink advertises to the runner as its batch. */
export const maxItems = commandSize * maxCommands
/** One request's portal time is kept at a third of the 60 s the portal allows (API-NOTES "Limits"). */
export const targetRequestSeconds = 20
/** Commands in the first requests, before any answer told the cost per item. */
export const initialCommands = 5

/** What one nested command came to. */
export type CommandOutcome =
  | { readonly _tag: "Imported"; readonly result: unknown }
  /** The command was refused as a whole (nothing created): its items are sent again on their own. */
  | { readonly _tag: "Refused"; readonly error: Bitrix24Client.Bitrix24Error }
  /** The command did not run (out of budget, or after a refused one): send it again. */
  | { readonly _tag: "NotRun" }

/** The nested command's answer refuses `batchImport` inside `batch` itself. */
const refusesNesting = (code: string): boolean =>
  code === "ERROR_BATCH_METHOD_NOT_ALLOWED" || code === "ERROR_METHOD_NOT_FOUND"

/**
 * The probe: a nested `crm.item.batchImport` of `entityTypeId` without `data`, which creates
 * nothing. Answers whether the portal runs the command inside `batch`.
 */
export const probe = (client: Bitrix24Client.Client, entityTypeId: number): Effect.Effect<boolean> =>
  client
    .call(
      "batch",
      { halt: 0, cmd: { probe: `${importMethod}?${Form.encode({ entityTypeId })}` } },
      { idempotent: true },
    )
    .pipe(
      Effect.map((answer) => {
        const r = isObject(answer.result) ? answer.result : {}
        const errors = isObject(r.result_error) ? r.result_error : {}
        const results = isObject(r.result) ? r.result : {}
        const error = errors.probe
        if (isObject(error)) {
          const code = String(error.error ?? "").toUpperCase()
          // The method ran and asked for its data: the portal takes it inside batch.
          return (
            !refusesNesting(code) && (code === "100" || /data/i.test(String(error.error_description ?? "")))
          )
        }
        return results.probe !== undefined
      }),
      Effect.tap((accepted) =>
        Effect.logInfo(
          accepted
            ? `Bitrix24: ${client.portal} runs crm.item.batchImport inside batch: imports are packed`
            : `Bitrix24: ${client.portal} does not confirm crm.item.batchImport inside batch: plain imports`,
        ),
      ),
      Effect.catchAll((e) =>
        Effect.as(Effect.logWarning(`Bitrix24: packing probe failed (${e.code}); plain imports`), false),
      ),
    )

/** What a command of `items` items is expected to cost, from the learned cost per item. */
const commandSeconds = (tracker: OperatingTime.Tracker, items: number): number | undefined => {
  const perItem = tracker.perItemSeconds(importMethod)
  return perItem === undefined ? undefined : perItem * items
}

/**
 * How many of `available` commands the next request carries at `nowMs`, and what it will spend:
 * at most 50, at most a third of the 60 s cap of portal time, and what the budgets have room for
 * (at least one: a request that does not fit waits for the window to move).
 */
export const size = (
  tracker: OperatingTime.Tracker,
  available: number,
  nowMs: number,
): { readonly charges: OperatingTime.Charges; readonly size: number } => {
  const perCommand = commandSeconds(tracker, commandSize)
  const byTime =
    perCommand === undefined
      ? initialCommands
      : perCommand > 0
        ? Math.floor(targetRequestSeconds / perCommand)
        : maxCommands
  const charged = perCommand === undefined ? 0 : tracker.counted(perCommand)
  const room = Math.min(tracker.room(importMethod, nowMs), tracker.room("batch", nowMs))
  const byBudget = charged > 0 ? Math.floor(room / charged) : maxCommands
  const k = Math.max(1, Math.min(maxCommands, available, byTime, byBudget))
  const total = (perCommand ?? 0) * k
  return {
    size: k,
    charges: [
      { method: importMethod, seconds: charged * k },
      { method: "batch", seconds: tracker.counted(total) },
    ],
  }
}

/** Reads the `batch` answer: each command's outcome, index-aligned with the commands sent. */
const outcomes = (
  client: Bitrix24Client.Client,
  answer: Bitrix24Client.Answer,
  commands: ReadonlyArray<ReadonlyArray<unknown>>,
  nowMs: number,
): Effect.Effect<ReadonlyArray<CommandOutcome>, Sink.SinkError> => {
  const r = isObject(answer.result) ? answer.result : {}
  const part = (k: string): Record<string, unknown> =>
    isObject(r[k]) ? (r[k] as Record<string, unknown>) : {}
  const ok = part("result")
  const errors = part("result_error")
  const times = part("result_time")
  // Each command's `result_time` tells its cost; a portal that leaves it out still gives the whole
  // request's processing time, spread over the items.
  if (
    !commands.some(
      (_, i) =>
        isObject(times[`c${i}`]) &&
        typeof (times[`c${i}`] as Record<string, unknown>).processing === "number",
    )
  ) {
    const items = commands.reduce((n, c) => n + c.length, 0)
    client.operating.record(importMethod, { processing: answer.time?.processing }, items)
  }
  let halted = false
  const out: Array<CommandOutcome> = []
  for (let i = 0; i < commands.length; i++) {
    const key = `c${i}`
    const time = times[key]
    if (isObject(time)) client.operating.record(importMethod, time, commands[i]!.length)
    const error = errors[key]
    if (isObject(error)) {
      halted = true
      const code = String(error.error ?? "UNKNOWN_ERROR")
      const description = typeof error.error_description === "string" ? error.error_description : ""
      const classified = classify(importMethod, 400, code, description, client.portal)
      if (classified._tag === "Bitrix24LimitError") {
        if (code.toUpperCase() === "OPERATION_TIME_LIMIT") client.operating.exceeded(importMethod, nowMs)
        out.push({ _tag: "NotRun" })
      } else if (refusesNesting(code.toUpperCase())) {
        out.push({ _tag: "Refused", error: classified })
      } else if (classified._tag === "Bitrix24ValidationError") {
        out.push({ _tag: "Refused", error: classified })
      } else {
        return Effect.fail(toSinkError(classified, false))
      }
      continue
    }
    if (ok[key] !== undefined) {
      out.push({ _tag: "Imported", result: ok[key] })
      continue
    }
    if (halted) {
      out.push({ _tag: "NotRun" })
      continue
    }
    // Neither a result nor an error, and nothing stopped the batch: the portal's answer is cut.
    return Effect.fail(
      new Sink.SinkError({
        sink: sinkName,
        reason: "ambiguous",
        code: "UNEXPECTED_ANSWER",
        message: `batch of ${importMethod} on ${client.portal} answered nothing for command ${i + 1} of ${commands.length}`,
      }),
    )
  }
  return Effect.succeed(out)
}

/**
 * Sends `commands` (each at most 20 items' fields) as `crm.item.batchImport` commands of one
 * `batch` (`halt: 1`) and answers each command's outcome. Not idempotent: a failure after the
 * request may have reached the portal is `ambiguous`, and the runner looks the items up.
 */
export const send = (
  client: Bitrix24Client.Client,
  target: Target.Target,
  commands: ReadonlyArray<ReadonlyArray<Record<string, unknown>>>,
): Effect.Effect<ReadonlyArray<CommandOutcome>, Sink.SinkError> => {
  const cmd: Record<string, string> = {}
  commands.forEach((data, i) => {
    cmd[`c${i}`] = `${importMethod}?${Form.encode({ entityTypeId: target.entityTypeId, data })}`
  })
  return client.call("batch", { halt: 1, cmd }, { idempotent: false, budgetMethods: [importMethod] }).pipe(
    Effect.flatMap((answer) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => outcomes(client, answer, commands, now)),
    ),
    Effect.catchAll((e) =>
      e._tag === "SinkError"
        ? Effect.fail(e)
        : e._tag === "Bitrix24ValidationError"
          ? // The batch refused as a whole (nothing ran): every command goes again on its own.
            Effect.succeed(commands.map((): CommandOutcome => ({ _tag: "Refused", error: e })))
          : Effect.fail(toSinkError(e, false)),
    ),
  )
}
