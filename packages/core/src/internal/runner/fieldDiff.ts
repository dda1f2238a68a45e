/**
 * Whether a value the mapping makes of a source record and the value the target holds are the
 * same, and a readable line when they are not: what `verify` compares, field by field. Values are
 * normalised the way a target stores them: numbers and numeric text (`12.5` = `"12.50"`), money
 * (`600|USD` = `600.00|USD`), dates (`2024-05-01` = `2024-05-01T03:00:00+03:00`, a date-time by its
 * instant), yes/no (`true` = `"Y"`), empty values (`null` = `""` = `[]`, and a cleared link `0`),
 * lists of multi-field values (`[{ VALUE, VALUE_TYPE }]`) as sets of value + type, other lists
 * as sets.
 */

/** One field whose values differ: the source's (as mapped) and the target's. */
export interface FieldDiff {
  readonly field: string
  readonly source: unknown
  readonly target: unknown
  /** `title: source "Acme" / portal "ACME Ltd"`, or for multi-values what each side lacks. */
  readonly text: string
}

const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !(u instanceof Date)

/** No value: `null`, `undefined`, blank text, an empty list. */
export const isEmpty = (v: unknown): boolean =>
  v === null ||
  v === undefined ||
  (typeof v === "string" && v.trim() === "") ||
  (Array.isArray(v) && v.length === 0)

const numeric = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/
const toNumber = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v)
    ? v
    : typeof v === "bigint"
      ? Number(v)
      : typeof v === "string" && numeric.test(v)
        ? Number(v)
        : undefined

const money = /^\s*([-+]?\d+(?:\.\d+)?)\s*\|\s*([A-Za-z]{3})\s*$/
const dateOnly = /^\d{4}-\d{2}-\d{2}$/
const dateTime = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/

/** A multi-field value (`{ VALUE, VALUE_TYPE }`). */
const isMultiValue = (v: unknown): v is Record<string, unknown> => isObject(v) && "VALUE" in v

/** A multi-field value as `TYPE value` (the type defaults to WORK, as the target's does). */
const multiText = (v: Record<string, unknown>): string =>
  `${
    String(v.VALUE_TYPE ?? "")
      .trim()
      .toUpperCase() || "WORK"
  } ${String(v.VALUE ?? "").trim()}`

const yes = new Set(["Y", "1", "TRUE"])
const no = new Set(["N", "0", "FALSE"])

/** A scalar in its comparable form: numbers as numbers, dates as instants or days, yes/no as Y/N. */
const scalar = (v: unknown): string => {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "Invalid Date" : `t:${v.getTime()}`
  if (typeof v === "boolean") return v ? "Y" : "N"
  const n = toNumber(v)
  if (n !== undefined) return `n:${n}`
  if (typeof v === "string") {
    const m = money.exec(v)
    if (m) return `m:${Number(m[1])}|${m[2]!.toUpperCase()}`
    if (dateTime.test(v) && !Number.isNaN(Date.parse(v))) return `t:${Date.parse(v)}`
    return v
  }
  return JSON.stringify(v) ?? String(v)
}

/** Whether two single values are the same once normalised. */
const sameScalar = (a: unknown, b: unknown): boolean => {
  if (typeof a === "boolean" || typeof b === "boolean") {
    const flag = (v: unknown) => {
      if (typeof v === "boolean") return v ? "Y" : "N"
      const t = String(v).trim().toUpperCase()
      return yes.has(t) ? "Y" : no.has(t) ? "N" : t
    }
    return flag(a) === flag(b)
  }
  // A date meets a date-time: the day the target shows, in its own offset.
  const day = (v: unknown) =>
    typeof v === "string" && dateOnly.test(v)
      ? v
      : typeof v === "string" && dateTime.test(v)
        ? v.slice(0, 10)
        : v instanceof Date && !Number.isNaN(v.getTime())
          ? v.toISOString().slice(0, 10)
          : undefined
  if ((typeof a === "string" && dateOnly.test(a)) || (typeof b === "string" && dateOnly.test(b))) {
    const x = day(a)
    const y = day(b)
    if (x !== undefined && y !== undefined) return x === y
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    return [...keys].every((k) => same(a[k], b[k]))
  }
  return scalar(a) === scalar(b)
}

/** The items of a list as a set of their comparable forms. */
const asSet = (list: ReadonlyArray<unknown>): Set<string> =>
  new Set(list.filter((v) => !isEmpty(v)).map((v) => (isMultiValue(v) ? `mv:${multiText(v)}` : scalar(v))))

/**
 * Whether the source's value (as mapped) and the target's are the same. A cleared link reads
 * back as `0` on some portals, so an empty source value matches `0`.
 */
export const same = (source: unknown, target: unknown): boolean => {
  if (isEmpty(source)) return isEmpty(target) || target === 0 || target === "0"
  if (isEmpty(target)) return false
  if (Array.isArray(source) || Array.isArray(target)) {
    const a = asSet(Array.isArray(source) ? source : [source])
    const b = asSet(Array.isArray(target) ? target : [target])
    return a.size === b.size && [...a].every((x) => b.has(x))
  }
  return sameScalar(source, target)
}

/** A value for a message: short JSON, multi-values as `TYPE value`. */
export const show = (v: unknown): string => {
  if (v === undefined) return "nothing"
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "an invalid date" : v.toISOString()
  if (Array.isArray(v) && v.length > 0 && v.every(isMultiValue)) return `[${v.map(multiText).join(", ")}]`
  const text = JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x)) ?? String(v)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** The line for one differing field: both values, or for lists what each side lacks. */
const describe = (field: string, source: unknown, target: unknown): string => {
  if (
    Array.isArray(source) &&
    Array.isArray(target) &&
    (source.some(isMultiValue) || target.some(isMultiValue))
  ) {
    const a = source.filter(isMultiValue).map(multiText)
    const b = target.filter(isMultiValue).map(multiText)
    const onlySource = a.filter((x) => !b.includes(x))
    const onlyTarget = b.filter((x) => !a.includes(x))
    const parts = [
      ...(onlySource.length > 0 ? [`not in the portal: ${onlySource.join(", ")}`] : []),
      ...(onlyTarget.length > 0 ? [`only in the portal: ${onlyTarget.join(", ")}`] : []),
    ]
    return `${field}: ${parts.join("; ")}`
  }
  return `${field}: source ${show(source)}, portal ${show(target)}`
}

/**
 * The fields of `source` (a record as mapped) whose values `target` (the item) does not hold,
 * each with a readable line. Fields in `skip` are left out (links, compared on their own).
 */
export const diffFields = (
  source: Readonly<Record<string, unknown>>,
  target: Readonly<Record<string, unknown>>,
  skip: ReadonlySet<string> = new Set(),
): ReadonlyArray<FieldDiff> => {
  const out: Array<FieldDiff> = []
  for (const [field, value] of Object.entries(source)) {
    if (value === undefined || skip.has(field)) continue
    const held = target[field]
    if (!same(value, held))
      out.push({ field, source: value, target: held, text: describe(field, value, held) })
  }
  return out
}
