/** `pipeline demo` and `pipeline demo seed`: the demo legacy CRM that migrate-legacy reads. */

import { Command, Options } from "@effect/cli"
import { Config, Console, Effect, Option, Redacted } from "effect"
import { CliError, handled, invocation, setExitCode } from "../internal/common.js"

export const demoSeed = Command.make(
  "seed",
  {
    url: Options.text("url").pipe(
      Options.withDescription(
        "the legacy database to create the demo CRM in: postgres://… or mysql://… (default: LEGACY_DATABASE_URL)",
      ),
      Options.optional,
    ),
    companies: Options.integer("companies").pipe(
      Options.withDescription("companies to generate (about 3 people and 2 opportunities each)"),
      Options.withDefault(1_000),
    ),
    seed: Options.integer("seed").pipe(
      Options.withDescription("seed of the generator: the same seed gives the same data"),
      Options.withDefault(1),
    ),
    reset: Options.boolean("reset").pipe(
      Options.withDescription(
        "drop the demo tables' data first (refused without it when the database has data)",
      ),
    ),
  },
  (args) =>
    handled(
      Effect.gen(function* () {
        const url = Option.isSome(args.url)
          ? Redacted.make(args.url.value)
          : yield* Config.redacted("LEGACY_DATABASE_URL").pipe(
              Effect.mapError(
                () =>
                  new CliError({
                    message:
                      "no legacy database: pass --url postgres://… or mysql://…, or set LEGACY_DATABASE_URL (without either, `run migrate-legacy` uses an embedded demo database)",
                  }),
              ),
            )
        // Loaded here so the other commands do not pay for the demo's modules at start.
        // The demo CRM ships with the repository (pipelines/legacy), not with the published packages.
        const [Database, Seed] = yield* Effect.tryPromise({
          try: () =>
            Promise.all([
              import("@b24etl/pipelines/legacy/Database"),
              import("@b24etl/pipelines/legacy/seed"),
            ]),
          catch: () =>
            new CliError({
              message:
                "the demo legacy CRM comes with a clone of the b24etl repository (pipelines/legacy): run `pnpm pipeline demo seed` there",
            }),
        })
        const counts = yield* Effect.scoped(
          Effect.gen(function* () {
            const { db, dialect, location } = yield* Database.connect(url)
            const counts = yield* Seed.seed(db, dialect, {
              companies: args.companies,
              seed: args.seed,
              reset: args.reset,
            })
            yield* Console.log(`seeded the demo legacy CRM in ${location}:`)
            return counts
          }),
        )
        yield* Console.log(JSON.stringify(counts, null, 2))
        yield* setExitCode(0)
      }),
    ),
).pipe(
  Command.withDescription(
    "create and fill the demo legacy CRM (accounts, people, opportunities) in a database",
  ),
)

export const demo = Command.make("demo", {}, () =>
  Console.log(`Choose a demo command: seed. See \`${invocation} demo --help\`.`),
).pipe(
  Command.withDescription("the demo legacy CRM that migrate-legacy reads"),
  Command.withSubcommands([demoSeed]),
)
