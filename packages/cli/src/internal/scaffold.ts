/**
 * The files `pipeline init` writes: a project of one's own that installs b24etl from the package
 * registry, type-checks its pipelines with `tsc` and runs them with `npx pipeline`.
 */

/** Versions the scaffold pins: `effect` must be the one b24etl uses, or a project gets two copies. */
export interface Versions {
  readonly b24etl: string
  readonly effect: string
  readonly typescript: string
}

/** A file of the scaffold, its path relative to the project directory. */
export interface ScaffoldFile {
  readonly path: string
  readonly content: string
}

/** The name npm takes for a project directory: lower case, letters, digits, `-`, `_` and `.`. */
export const packageName = (directory: string): string => {
  const name = directory
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[-._]+|[-._]+$/g, "")
  return name === "" ? "my-pipelines" : name
}

const packageJson = (name: string, versions: Versions): string =>
  `${JSON.stringify(
    {
      name,
      version: "0.1.0",
      private: true,
      type: "module",
      scripts: { typecheck: "tsc --noEmit" },
      dependencies: { b24etl: `^${versions.b24etl}`, effect: versions.effect },
      devDependencies: { "@types/node": "^20.12.0", typescript: `~${versions.typescript}` },
    },
    null,
    2,
  )}\n`

const tsconfig = `${JSON.stringify(
  {
    compilerOptions: {
      target: "ES2022",
      lib: ["ES2023"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      types: ["node"],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      verbatimModuleSyntax: true,
    },
    include: ["pipelines"],
  },
  null,
  2,
)}\n`

/** The pipeline template: a SQL source into companies and contacts, the contacts linked by `ref`. */
export const pipelineTemplate = `/**
 * crm: a legacy CRM's accounts and people into Bitrix24 companies and contacts.
 *
 *   npx pipeline plan crm    checks it against the portal (field names, record counts); writes nothing
 *   npx pipeline run crm     migrates; run it again and it has nothing to do, or only what changed
 *   npm run typecheck        type-checks the mapping against the row types below
 *
 * Settings come from .env (copy .env.example): LEGACY_DATABASE_URL and BITRIX24_WEBHOOK_URL.
 * No portal at hand? \`npx pipeline emulator\` serves a local one and prints its webhook URL.
 */
import * as Bitrix24 from "b24etl/Bitrix24"
import * as Pipeline from "b24etl/Pipeline"
import { ref } from "b24etl/Reference"
import * as Sql from "b24etl/Sql"
import * as Config from "effect/Config"

// The source database: PostgreSQL or MySQL/MariaDB, told by the URL's scheme; read-only sessions.
const legacy = Sql.source({ name: "legacy-crm", url: Config.redacted("LEGACY_DATABASE_URL") })

// The rows as your tables hold them: \`map\` is type-checked against these, so a misspelt column
// fails \`npm run typecheck\`. Rename the tables and columns to yours.
interface Account {
  readonly id: number
  readonly name: string
  readonly phone: string | null
  readonly website: string | null
  readonly deleted_at: Date | null
}

interface Person {
  readonly id: number
  /** The person's company: the key of a row of \`accounts\`. */
  readonly account_id: number | null
  readonly first_name: string
  readonly last_name: string | null
  /** Several addresses in one column, comma- or semicolon-separated. */
  readonly emails: string | null
}

export default Pipeline.make({
  // The name keys the state (id map, checkpoints, dead letters): keep it once records are written.
  name: "crm",
  description: "Legacy accounts and people into Bitrix24 companies and contacts",
  // BITRIX24_WEBHOOK_URL, or the BITRIX24_OAUTH_* settings of an OAuth application.
  sink: Bitrix24.fromEnv(),
  // For \`npx pipeline serve\`: keep Bitrix24 in step every 15 minutes after the migration.
  schedule: "*/15 * * * *",
  entities: {
    company: Pipeline.entity({
      // \`key\` identifies a row for good; with a \`cursor\` a run reads only rows changed since the last.
      from: legacy.table<Account>("accounts", { key: "id", cursor: "updated_at" }),
      to: Bitrix24.company,
      // Accounts deleted in the source (soft-deleted) are not migrated.
      deleted: { when: (r) => r.deleted_at !== null, policy: "ignore" },
      map: (r) => ({
        title: r.name,
        PHONE: Bitrix24.phones(r.phone),
        WEB: Bitrix24.webs(r.website),
      }),
    }),
    contact: Pipeline.entity({
      from: legacy.table<Person>("people", { key: "id", cursor: "updated_at" }),
      to: Bitrix24.contact,
      // Contacts are written after the companies they link to.
      references: ["company"],
      map: (r) => ({
        name: r.first_name,
        lastName: r.last_name ?? undefined,
        EMAIL: Bitrix24.emails((r.emails ?? "").split(/[,;]/)),
        // The company's Bitrix24 id, from the id map; a contact whose company failed is a dead letter.
        companyId: ref("company", r.account_id),
      }),
    }),
  },
})
`

const envExample = `# Copy to .env and fill in: the pipeline command reads .env in the working directory
# (variables set in the environment win). Keep .env out of version control: it holds secrets.

# The source database of pipelines/crm.ts: postgres://user:pass@host:5432/db or mysql://user:pass@host:3306/db
LEGACY_DATABASE_URL=

# The Bitrix24 portal: an inbound webhook with the crm scope, https://<portal>/rest/<user id>/<code>/
# (\`npx pipeline emulator\` prints a local one: http://127.0.0.1:<port>/rest/1/<code>/)
BITRIX24_WEBHOOK_URL=

# ...or an OAuth application instead of a webhook: an expired access token is refreshed once and
# the rotated pair is kept in the state store, encrypted with the client secret.
# BITRIX24_OAUTH_PORTAL_URL=https://yourcompany.bitrix24.com/
# BITRIX24_OAUTH_CLIENT_ID=
# BITRIX24_OAUTH_CLIENT_SECRET=
# BITRIX24_OAUTH_ACCESS_TOKEN=
# BITRIX24_OAUTH_REFRESH_TOKEN=
# BITRIX24_OAUTH_TOKEN_URL=https://oauth.bitrix.info/oauth/token/

# The portal's request rate: standard (2/s, burst 50), enterprise (5/s, 250), unlimited, or <rate>/<burst>
# BITRIX24_RATE=standard
# Batches in flight to the portal
# BITRIX24_CONCURRENCY=4

# Where the state is kept (id map, checkpoints, dead letters): a directory for the embedded store
# (SQLite), or postgres://... / mysql://... (mariadb://...)
# PIPELINE_STATE_URL=.pipeline/state
# Another directory of pipeline files, searched before pipelines/
# PIPELINE_DIR=

# When set, progress is printed as lines rather than live bars (CI servers set it)
# CI=true
`

const gitignore = `node_modules/
# The embedded state store and local emulator data: id map, checkpoints, dead letters.
.pipeline/
# Secrets: database passwords, the webhook code, OAuth tokens.
.env
`

/** Every file of a new project named `name`. */
export const files = (name: string, versions: Versions): ReadonlyArray<ScaffoldFile> => [
  { path: "package.json", content: packageJson(name, versions) },
  { path: "tsconfig.json", content: tsconfig },
  { path: "pipelines/crm.ts", content: pipelineTemplate },
  { path: ".env.example", content: envExample },
  { path: ".gitignore", content: gitignore },
]
