/**
 * PHP-style form bodies and query strings, as a Bitrix24 portal reads them:
 * `fields[title]=Acme&data[0][PHONE][0][VALUE]=555` becomes
 * `{ fields: { title: "Acme" }, data: [{ PHONE: [{ VALUE: "555" }] }] }`.
 *
 * Values stay strings, as PHP leaves them; objects whose keys are exactly `0..n-1` become arrays.
 */

type Tree = { [key: string]: Tree | string }

const forbidden = new Set(["__proto__", "constructor", "prototype"])

const splitKey = (key: string): ReadonlyArray<string> | undefined => {
  const open = key.indexOf("[")
  if (open <= 0) return [key]
  const segments = [key.slice(0, open)]
  let rest = key.slice(open)
  while (rest.length > 0) {
    if (rest[0] !== "[") {
      // PHP ignores anything after the last well-formed bracket group.
      break
    }
    const close = rest.indexOf("]")
    if (close < 0) return [key]
    segments.push(rest.slice(1, close))
    rest = rest.slice(close + 1)
  }
  return segments
}

const nextIndex = (node: Tree): string => {
  let max = -1
  for (const k of Object.keys(node)) {
    if (/^\d+$/.test(k)) max = Math.max(max, Number(k))
  }
  return String(max + 1)
}

const insert = (root: Tree, segments: ReadonlyArray<string>, value: string): void => {
  let node = root
  for (let i = 0; i < segments.length; i++) {
    let segment = segments[i]!
    if (segment === "") segment = nextIndex(node)
    if (forbidden.has(segment)) return
    if (i === segments.length - 1) {
      node[segment] = value
      return
    }
    const child = node[segment]
    if (typeof child === "object") {
      node = child
    } else {
      const created: Tree = {}
      node[segment] = created
      node = created
    }
  }
}

const listify = (value: Tree | string): unknown => {
  if (typeof value === "string") return value
  const keys = Object.keys(value)
  const converted: Record<string, unknown> = {}
  for (const k of keys) converted[k] = listify(value[k]!)
  const isList = keys.length > 0 && keys.every((k, i) => k === String(i))
  return isList ? keys.map((k) => converted[k]) : converted
}

/** Parses `application/x-www-form-urlencoded` text (or a query string) with PHP's nested-key rules. */
export const parse = (text: string): Record<string, unknown> => {
  const root: Tree = {}
  const params = new URLSearchParams(text.startsWith("?") ? text.slice(1) : text)
  for (const [key, value] of params) {
    const segments = splitKey(key)
    if (segments !== undefined && segments[0] !== "") insert(root, segments, value)
  }
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(root)) out[k] = listify(root[k]!)
  return out
}

/** The inverse, for clients and tests: encodes nested values with PHP's bracket keys. */
export const stringify = (value: Record<string, unknown>): string => {
  const params = new URLSearchParams()
  const walk = (prefix: string, v: unknown): void => {
    if (v === null || v === undefined) {
      params.append(prefix, "")
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(`${prefix}[${i}]`, x))
    } else if (typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(`${prefix}[${k}]`, x)
    } else {
      params.append(prefix, String(v))
    }
  }
  for (const [k, v] of Object.entries(value)) walk(k, v)
  return params.toString()
}
