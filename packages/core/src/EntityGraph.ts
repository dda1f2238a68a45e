import * as Either from "effect/Either"

/**
 * The entities of a pipeline and the references between them. Writing follows the references:
 * an entity is written after every entity it references (companies, then contacts, then deals),
 * so a reference can always be resolved from the id map when its batch is sent.
 */
export interface Node {
  readonly name: string
  /** `deferred` references do not order: the record is created without them and linked after. */
  readonly references: ReadonlyArray<{ readonly entity: string; readonly deferred: boolean }>
}

export interface EntityGraph {
  readonly nodes: ReadonlyArray<Node>
}

export const make = (nodes: ReadonlyArray<Node>): EntityGraph => ({ nodes })

/**
 * Topological order, stable: among entities that are ready at the same time, the one declared
 * first comes first. A self-reference (a company's parent company) is a cycle too: records of
 * one batch cannot wait for each other, so it must be declared deferred. A cycle of non-deferred references is answered as `Left` with the entities
 * on it, first repeated last (`contact -> deal -> contact`), never a hang.
 */
export const order = (graph: EntityGraph): Either.Either<ReadonlyArray<string>, ReadonlyArray<string>> => {
  const deps = new Map(
    graph.nodes.map((n) => [n.name, n.references.filter((r) => !r.deferred).map((r) => r.entity)]),
  )
  const done = new Set<string>()
  const out: Array<string> = []
  while (out.length < graph.nodes.length) {
    const next = graph.nodes.find((n) => !done.has(n.name) && deps.get(n.name)!.every((d) => done.has(d)))
    if (next === undefined) return Either.left(findCycle(deps, done))
    done.add(next.name)
    out.push(next.name)
  }
  return Either.right(out)
}

const findCycle = (
  deps: ReadonlyMap<string, ReadonlyArray<string>>,
  done: ReadonlySet<string>,
): ReadonlyArray<string> => {
  // Every entity left has an unfinished dependency, so walking unfinished dependencies must
  // come back to an entity already on the path.
  const start = [...deps.keys()].find((n) => !done.has(n))!
  const path: Array<string> = [start]
  for (;;) {
    const current = path[path.length - 1]!
    const next = deps.get(current)!.find((d) => !done.has(d))!
    const at = path.indexOf(next)
    if (at >= 0) return [...path.slice(at), next]
    path.push(next)
  }
}
