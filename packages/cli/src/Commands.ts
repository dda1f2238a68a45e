/**
 * What each command takes and says about itself: its arguments, options (with the kind of value
 * each takes), examples and the environment variables that apply. The help (`Help.ts`) is
 * rendered from it and the command line is checked against it (`Argv.ts`) before @effect/cli
 * parses it; a test keeps it in step with the @effect/cli definitions in `commands/`.
 */

/** The kind of value an option takes: none (a flag), an integer, a number, or text. */
export type ValueKind = "flag" | "integer" | "number" | "text"

export interface OptionSpec {
  /** Without the dashes: `limit` for `--limit`. */
  readonly name: string
  readonly kind: ValueKind
  /** How the value is shown in usage lines: `<n>`, `<url>`. Flags have none. */
  readonly value?: string
  /** May be given several times. */
  readonly repeatable?: boolean
  readonly description: string
}

export interface ArgumentSpec {
  /** As shown: `<pipeline>`. */
  readonly name: string
  readonly description: string
  /** How many may be given: exactly one, at most one (`init`'s directory), or any number (`serve`'s pipelines). */
  readonly count: "one" | "optional" | "any"
}

export interface CommandSpec {
  /** `run`, or `demo seed` for a subcommand. */
  readonly name: string
  readonly summary: string
  /** More to know, one paragraph per entry. */
  readonly details?: ReadonlyArray<string>
  readonly argument?: ArgumentSpec
  readonly options: ReadonlyArray<OptionSpec>
  /** Whole command lines after the program name: `run migrate-legacy --dry-run`. */
  readonly examples: ReadonlyArray<string>
  /** Names of `environment` entries that apply. */
  readonly environment: ReadonlyArray<EnvironmentName>
  /** A group of subcommands (`demo`): it does nothing itself. */
  readonly subcommands?: ReadonlyArray<string>
}

/** The environment variables the command line and the bundled pipelines read. */
export const environment = {
  PIPELINE_STATE_URL:
    "where the state is kept: postgres://…, mysql://…, or a directory for the embedded store (SQLite; sqlite:<dir> or pglite:<dir> to choose) (default .pipeline/state)",
  PIPELINE_DIR: "another directory of pipeline files, searched before pipelines/",
  BITRIX24_WEBHOOK_URL:
    "the portal's inbound webhook, https://<portal>/rest/<user id>/<code>/ (for pipelines writing with Bitrix24.fromEnv(), as migrate-legacy; without it migrate-legacy writes to a local emulator)",
  "BITRIX24_OAUTH_*":
    "an OAuth application instead of a webhook: …_PORTAL_URL, …_CLIENT_ID, …_CLIENT_SECRET, …_ACCESS_TOKEN, …_REFRESH_TOKEN (…_TOKEN_URL)",
  BITRIX24_RATE: "the portal's request rate: standard (default), enterprise, unlimited or <rate>/<burst>",
  BITRIX24_CONCURRENCY: "batches in flight to the portal (default 4)",
  LEGACY_DATABASE_URL:
    "migrate-legacy's source database, postgres://… or mysql://… (default: an embedded demo database)",
  CI: "when set, progress is printed as lines, not live bars",
} as const

export type EnvironmentName = keyof typeof environment

const pipelineArgument: ArgumentSpec = {
  name: "<pipeline>",
  description: "a pipeline's name (from pipelines/*.ts or PIPELINE_DIR) or the path of its file",
  count: "one",
}

const state: OptionSpec = {
  name: "state",
  kind: "text",
  value: "<url>",
  description:
    "where the state is: postgres://…, mysql://… or a directory (default: PIPELINE_STATE_URL, else .pipeline/state)",
}

const json = (what: string): OptionSpec => ({
  name: "json",
  kind: "flag",
  description: `print ${what} as JSON; a failure as {"error": {"kind", "message"}}`,
})

const entities: OptionSpec = {
  name: "entity",
  kind: "text",
  value: "<entity>",
  repeatable: true,
  description: "only this entity; repeat for several (default: all)",
}

const acceptSourceChange: OptionSpec = {
  name: "accept-source-change",
  kind: "flag",
  description:
    "the source's host or database differs from the one the state remembers and holds the same records: go on and remember it",
}

const portal: ReadonlyArray<EnvironmentName> = [
  "BITRIX24_WEBHOOK_URL",
  "BITRIX24_OAUTH_*",
  "BITRIX24_RATE",
  "BITRIX24_CONCURRENCY",
  "LEGACY_DATABASE_URL",
]

/** The commands, in the order the help lists them. */
export const commands: ReadonlyArray<CommandSpec> = [
  {
    name: "init",
    summary: "create a pipeline project: package.json, tsconfig.json, a pipeline, .env.example, .gitignore",
    details: [
      "The project depends on b24etl; after `npm install`, `npx pipeline plan crm` checks its pipeline (pipelines/crm.ts: a SQL database's accounts and people into companies and contacts) and `npm run typecheck` checks its mapping. Refuses to write over existing files.",
    ],
    argument: {
      name: "<dir>",
      description: "where to create the project (default: the working directory)",
      count: "optional",
    },
    options: [],
    examples: ["init my-crm", "init"],
    environment: [],
  },
  {
    name: "list",
    summary: "list the pipelines found, with their entities, schedule and description",
    details: ["Exits 1 when a pipeline file does not load, naming the file, the line and why."],
    options: [json("the pipelines")],
    examples: ["list", "list --json"],
    environment: ["PIPELINE_DIR"],
  },
  {
    name: "plan",
    summary:
      "check a pipeline without writing: entity order, record counts, mapped fields, estimated duration",
    details: ["Exits 1 on a reference cycle, an unknown reference or a field the target does not have."],
    argument: pipelineArgument,
    options: [
      {
        name: "sample",
        kind: "integer",
        value: "<n>",
        description: "records read per entity to check the mapped fields (default 20)",
      },
      {
        name: "full",
        kind: "flag",
        description:
          "also read every record and count what `run --full` would update (compares with the id map)",
      },
      { ...state, description: `${state.description}; an OAuth token the plan refreshes is kept there` },
      json("the plan"),
    ],
    examples: ["plan migrate-legacy", "plan ./pipelines/my-crm.ts --sample 100"],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL", ...portal],
  },
  {
    name: "run",
    summary:
      "run a pipeline: exit 0 when done, 1 when it failed or was interrupted, 2 when done with dead letters",
    details: [
      "Ctrl-C stops reading, finishes the batches in flight, commits, prints the report and exits 1; the next run resumes. A second Ctrl-C quits at once (still safe).",
    ],
    argument: pipelineArgument,
    options: [
      {
        name: "dry-run",
        kind: "flag",
        description: "read, map and check everything, write nothing (no state is changed)",
      },
      {
        name: "limit",
        kind: "integer",
        value: "<n>",
        description: "read at most this many records per entity",
      },
      {
        name: "full",
        kind: "flag",
        description:
          "read every record from the start, ignoring checkpoints, and update what changed (re-applies a changed mapping)",
      },
      entities,
      acceptSourceChange,
      {
        name: "queue",
        kind: "flag",
        description:
          "queue the run for `pipeline worker` processes instead of running it here (PostgreSQL state only); prints the job id",
      },
      state,
      json("the report"),
    ],
    examples: [
      "run migrate-legacy",
      "run migrate-legacy --queue --state postgres://etl@db/etl_state",
      "run migrate-legacy --dry-run --limit 100 --entity company",
      "run migrate-legacy --full",
    ],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL", ...portal, "CI"],
  },
  {
    name: "status",
    summary: "show recent runs, checkpoints, id-map counts by entity and the dead-letter count",
    argument: pipelineArgument,
    options: [
      {
        name: "runs",
        kind: "integer",
        value: "<n>",
        description: "how many recent runs to show (default 5)",
      },
      state,
      json("the status"),
    ],
    examples: ["status migrate-legacy", "status migrate-legacy --runs 20 --json"],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL"],
  },
  {
    name: "failures",
    summary:
      "list the dead letters: entity, key, stage, code, message, attempts, dismissed; --dismiss acknowledges known-bad ones",
    details: [
      "Dismissed dead letters stay listed, are not retried, and no longer make a run exit 2; a new failure of another kind counts again.",
    ],
    argument: pipelineArgument,
    options: [
      { name: "entity", kind: "text", value: "<entity>", description: "only this entity" },
      {
        name: "warnings",
        kind: "flag",
        description:
          "instead: the values field helpers (emails, phones, webs) dropped in the last run: entity, key, field, value, reason",
      },
      {
        name: "limit",
        kind: "integer",
        value: "<n>",
        description: "show at most this many (default 50)",
      },
      {
        name: "dismiss",
        kind: "text",
        value: "<key>",
        repeatable: true,
        description: "acknowledge the dead letters of these keys (with --entity, of that entity only)",
      },
      {
        name: "dismiss-code",
        kind: "text",
        value: "<code>",
        description: "acknowledge every dead letter with this code (with --entity, of that entity only)",
      },
      state,
      json("the dead letters, with their payloads,"),
    ],
    examples: [
      "failures migrate-legacy",
      "failures migrate-legacy --entity deal --json",
      "failures migrate-legacy --entity contact --dismiss 15 --dismiss 42",
      "failures migrate-legacy --dismiss-code UNRESOLVED_REFERENCE",
    ],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL"],
  },
  {
    name: "retry",
    summary: "read again and write only the records in the dead letters",
    argument: pipelineArgument,
    options: [entities, acceptSourceChange, state, json("the report")],
    examples: ["retry migrate-legacy", "retry migrate-legacy --entity deal"],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL", ...portal, "CI"],
  },
  {
    name: "reset",
    summary: "forget what a pipeline (or some entities) wrote: id map, checkpoints, dead letters",
    details: ["The next run creates every record again in the target: reset refuses without --yes."],
    argument: pipelineArgument,
    options: [
      entities,
      { name: "yes", kind: "flag", description: "confirm: without it nothing is reset" },
      state,
    ],
    examples: ["reset migrate-legacy --yes", "reset migrate-legacy --entity deal --yes"],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL"],
  },
  {
    name: "relink",
    summary:
      "rebuild the id map from the portal by the pipeline's originator, and bind the state to that portal",
    details: [
      "After a lost state, or to move the state to another portal. Reports items adopted, id-map rows with no item, and records the portal holds more than once (left out with their ids, held back as dead letters; exit 2). The next run updates each adopted item once and creates none of them.",
    ],
    argument: pipelineArgument,
    options: [
      entities,
      {
        name: "yes",
        kind: "flag",
        description: "confirm replacing an id map that is not empty (its checkpoints and dead letters too)",
      },
      state,
      json("the result"),
    ],
    examples: ["relink migrate-legacy", "relink migrate-legacy --entity deal --yes"],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL", ...portal],
  },
  {
    name: "undo",
    summary:
      "delete from the portal what a run (or the pipeline) created, children first; updates are not undone",
    details: [
      "Lists the counts per entity and asks first (--yes skips; without a terminal it refuses). Each item is checked before it is deleted: only items that still carry the record's identity for the pipeline's originator are deleted, the others are left alone and reported. Their id-map rows become deleted, so a later run creates the records again. An interrupted undo (Ctrl-C, a crash) is finished by the next one. Exit 1 when it stopped before the end, a deletion failed, or nothing was confirmed.",
    ],
    argument: pipelineArgument,
    options: [
      {
        name: "run",
        kind: "text",
        value: "<run id>",
        description:
          "only what this run created (its id, as `status` lists it); default: everything the pipeline created",
      },
      entities,
      { name: "dry-run", kind: "flag", description: "count what would be deleted; delete nothing" },
      { name: "yes", kind: "flag", description: "delete without asking" },
      state,
      json("the result"),
    ],
    examples: [
      "undo migrate-legacy --run 42 --dry-run",
      "undo migrate-legacy --run 42 --yes",
      "undo migrate-legacy --entity deal",
    ],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL", ...portal],
  },
  {
    name: "verify",
    summary:
      "compare the source, the id map and the portal per entity: each difference once, with what to do; writes nothing",
    details: [
      "Reads every record of the source, the id map, and every item of the pipeline's originator in the portal (crm.item.list, 50 per page, within the rate limit; the number of requests and the time they take are printed first). Reports counts per entity, then: items missing from the portal, items no id-map row knows (extra), records held by more than one item (duplicate), links that are not what the source's references resolve to today, records the source no longer has (gone), records never migrated, and for a sample of records (--sample) the mapped fields against the item's. Each finding says what to do: retry, run, run --full, relink, or delete items in the portal. Ctrl-C stops it; nothing is written. Exit 0 when everything matches, 1 otherwise.",
    ],
    argument: pipelineArgument,
    options: [
      entities,
      {
        name: "sample",
        kind: "text",
        value: "<n|all>",
        description:
          "records per entity whose mapped fields are compared with their item (default 100), or all",
      },
      state,
      json("the counts and findings"),
    ],
    examples: [
      "verify migrate-legacy",
      "verify migrate-legacy --entity deal --sample all",
      "verify migrate-legacy --json",
    ],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL", ...portal],
  },
  {
    name: "unlock",
    summary: "free a pipeline's lock held by a run you know is dead (asks first; --yes)",
    details: [
      "A run killed on this machine loses its lock at once to the next run; one that died on another machine holds it until its lease runs out. Unlock frees it now. Only for a dead run: two runs at once can write records twice.",
    ],
    argument: pipelineArgument,
    options: [{ name: "yes", kind: "flag", description: "do not ask: free the lock" }, state],
    examples: ["unlock migrate-legacy", "unlock migrate-legacy --yes"],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL"],
  },
  {
    name: "serve",
    summary: "run scheduled pipelines on their cron times until interrupted (Ctrl-C, SIGTERM)",
    argument: {
      name: "<pipeline>",
      description: "the pipelines to serve (default: every pipeline found that has a schedule)",
      count: "any",
    },
    options: [
      state,
      { name: "json", kind: "flag", description: "print events as JSON lines" },
      {
        name: "lease-ms",
        kind: "integer",
        value: "<ms>",
        description:
          "how long a run holds the pipeline's lock without renewing it: another serve takes over this long after a holder dies (default 60000)",
      },
    ],
    examples: ["serve", "serve migrate-legacy --state postgres://etl@db/etl_state"],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL", ...portal],
  },
  {
    name: "worker",
    summary:
      "take the pipelines' runs (cron ticks and `run --queue`) from the queue in a PostgreSQL state store, with any number of other workers",
    details: [
      "Run one or more on each machine against the same PostgreSQL state store (the embedded store is refused). Each cron tick of a scheduled pipeline runs once across all workers, never two runs of one pipeline at once; a worker that dies has its run resumed by another within seconds (same host) or the job lease (another host). Ctrl-C or SIGTERM stops taking jobs; the runs in progress finish their batches and hand their jobs back to the queue.",
    ],
    options: [
      {
        name: "pipelines",
        kind: "text",
        value: "<a,b>",
        description: "the pipelines to work on, separated by commas (default: every pipeline found)",
      },
      {
        name: "concurrency",
        kind: "integer",
        value: "<n>",
        description: "runs at once in this process, over all its pipelines (default 4)",
      },
      state,
      { name: "json", kind: "flag", description: "print events as JSON lines" },
    ],
    examples: [
      "worker --state postgres://etl@db/etl_state",
      "worker --pipelines crm-a,crm-b --concurrency 2",
    ],
    environment: ["PIPELINE_DIR", "PIPELINE_STATE_URL", ...portal],
  },
  {
    name: "emulator",
    summary: "serve a local Bitrix24 REST emulator (prints its webhook URL first)",
    options: [
      {
        name: "port",
        kind: "integer",
        value: "<port>",
        description: "port to listen on (default: a free one)",
      },
      { name: "rate", kind: "number", value: "<n>", description: "requests per second (default 2)" },
      {
        name: "burst",
        kind: "integer",
        value: "<n>",
        description: "rate limit burst (default 50; 0 turns the limit off)",
      },
      {
        name: "latency-ms",
        kind: "integer",
        value: "<ms>",
        description: "added to every request (default 0)",
      },
      {
        name: "faults",
        kind: "text",
        value: "<list>",
        description: "fault probabilities, e.g. 503=0.05,500=0.02,reset-before=0.01,reset-after=0.01",
      },
      { name: "seed", kind: "integer", value: "<n>", description: "seed of the fault generator (default 1)" },
      { name: "https", kind: "flag", description: "serve HTTPS with a generated certificate" },
      {
        name: "persist",
        kind: "text",
        value: "<file>",
        description: "load the portal from this JSON file and save it after each change",
      },
      {
        name: "operating-budget",
        kind: "integer",
        value: "<s>",
        description: "operating time per method per 10 minutes, in seconds (default 480; 0 turns it off)",
      },
    ],
    examples: ["emulator --port 3000", "emulator --latency-ms 200 --faults 503=0.05 --persist portal.json"],
    environment: [],
  },
  {
    name: "demo",
    summary: "the demo legacy CRM that migrate-legacy reads",
    options: [],
    examples: ["demo seed --url postgres://postgres@127.0.0.1:5432/crm"],
    environment: [],
    subcommands: ["demo seed"],
  },
  {
    name: "demo seed",
    summary: "create and fill the demo legacy CRM (accounts, people, opportunities) in a database",
    options: [
      {
        name: "url",
        kind: "text",
        value: "<url>",
        description: "the database to create it in: postgres://… or mysql://… (default: LEGACY_DATABASE_URL)",
      },
      {
        name: "companies",
        kind: "integer",
        value: "<n>",
        description: "companies to generate, about 3 people and 2 opportunities each (default 1000)",
      },
      {
        name: "seed",
        kind: "integer",
        value: "<n>",
        description: "seed of the generator: the same seed gives the same data (default 1)",
      },
      {
        name: "reset",
        kind: "flag",
        description: "empty the demo tables first (refused without it when the database has data)",
      },
    ],
    examples: ["demo seed --url mysql://root@127.0.0.1:3306/crm --companies 1000"],
    environment: ["LEGACY_DATABASE_URL"],
  },
]

/** Options every command takes. */
export const globalOptions: ReadonlyArray<OptionSpec> = [
  { name: "help", kind: "flag", description: "show this help" },
  { name: "version", kind: "flag", description: "print the version" },
  {
    name: "log-level",
    kind: "text",
    value: "<level>",
    description:
      "the least important log lines shown: all, trace, debug, info (default), warning, error, fatal, none",
  },
]

/** The log levels `--log-level` takes. */
export const logLevels = ["all", "trace", "debug", "info", "warning", "error", "fatal", "none"]

/** The spec of a command by its name (`demo seed` for a subcommand). */
export const find = (name: string): CommandSpec | undefined => commands.find((c) => c.name === name)
