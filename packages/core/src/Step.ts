import { Data, Effect, Option, ParseResult, Schema } from "effect"

/**
 * Transform steps between reading and mapping. A step takes a value and gives the next value,
 * `None` to drop the record (a filter), or fails with a `StepFailure`, which sends that record to
 * the dead letters with the step's name and the reason; the run goes on.
 */
export interface Step<in A, out B> {
  readonly name: string
  readonly run: (a: A) => Effect.Effect<Option.Option<B>, StepFailure>
}

/** Why a record could not pass a step; `field` names the field when one is to blame. */
export class StepFailure extends Data.TaggedError("StepFailure")<{
  readonly step: string
  readonly message: string
  readonly field?: string | undefined
  readonly cause?: unknown
}> {}

const thrown = (step: string, cause: unknown): StepFailure =>
  new StepFailure({ step, message: cause instanceof Error ? cause.message : String(cause), cause })

/** A pure function; a throw becomes a `StepFailure`. */
export const map = <A, B>(f: (a: A) => B, name = "map"): Step<A, B> => ({
  name,
  run: (a) => Effect.try({ try: () => Option.some(f(a)), catch: (e) => thrown(name, e) }),
})

/** Keeps the records for which `predicate` holds; the others are skipped, not failed. */
// The output is `NoInfer`: inside an entity, the record type comes from the input side only.
export function filter<A, B extends A>(predicate: (a: A) => a is B, name?: string): Step<A, B>
export function filter<A>(predicate: (a: A) => boolean, name?: string): Step<A, NoInfer<A>>
export function filter<A>(predicate: (a: A) => boolean, name = "filter"): Step<A, A> {
  return {
    name,
    run: (a) =>
      Effect.try({
        try: () => (predicate(a) ? Option.some(a) : Option.none()),
        catch: (e) => thrown(name, e),
      }),
  }
}

/** An effectful map (look something up, call a service); its failure dead-letters the record. */
export const mapEffect = <A, B, E>(f: (a: A) => Effect.Effect<B, E>, name = "mapEffect"): Step<A, B> => ({
  name,
  run: (a) =>
    Effect.suspend(() => f(a)).pipe(
      Effect.map(Option.some),
      Effect.mapError((e) => (e instanceof StepFailure ? e : thrown(name, e))),
      Effect.catchAllDefect((d) => Effect.fail(thrown(name, d))),
    ),
})

/**
 * Decodes with a Schema. A record that does not decode fails with the path of the first bad
 * field and the Schema's reason, e.g. `email: Expected a string matching ...`.
 */
export const validate = <A, I>(schema: Schema.Schema<A, I>, name = "validate"): Step<unknown, A> => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })
  return {
    name,
    run: (input) => {
      const result = decode(input)
      if (result._tag === "Right") return Effect.succeed(Option.some(result.right))
      const issue = ParseResult.ArrayFormatter.formatErrorSync(result.left)[0]
      const field = issue && issue.path.length > 0 ? issue.path.map(String).join(".") : undefined
      return Effect.fail(
        new StepFailure({
          step: name,
          field,
          message: issue ? `${field ?? "record"}: ${issue.message}` : result.left.message,
          cause: result.left,
        }),
      )
    },
  }
}

/** The identity step. */
export const identity = <A>(): Step<A, NoInfer<A>> => ({
  name: "identity",
  run: (a) => Effect.succeed(Option.some(a)),
})

/** Runs steps one after another; the first `None` or failure stops the record. */
export function pipe<A, B>(ab: Step<A, B>): Step<A, B>
export function pipe<A, B, C>(ab: Step<A, B>, bc: Step<B, C>): Step<A, C>
export function pipe<A, B, C, D>(ab: Step<A, B>, bc: Step<B, C>, cd: Step<C, D>): Step<A, D>
export function pipe<A, B, C, D, E>(
  ab: Step<A, B>,
  bc: Step<B, C>,
  cd: Step<C, D>,
  de: Step<D, E>,
): Step<A, E>
export function pipe<A, B, C, D, E, F>(
  ab: Step<A, B>,
  bc: Step<B, C>,
  cd: Step<C, D>,
  de: Step<D, E>,
  ef: Step<E, F>,
): Step<A, F>
export function pipe(...steps: ReadonlyArray<Step<unknown, unknown>>): Step<unknown, unknown> {
  return {
    name: steps.map((s) => s.name).join(" | "),
    run: (input) =>
      Effect.gen(function* () {
        let current: unknown = input
        for (const step of steps) {
          const next = yield* step.run(current)
          if (Option.isNone(next)) return Option.none()
          current = next.value
        }
        return Option.some(current)
      }),
  }
}
