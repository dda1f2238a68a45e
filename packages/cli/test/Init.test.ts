import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as Commands from "../src/Commands.js"
import * as Scaffold from "../src/internal/scaffold.js"
import { project } from "./fixtures/Cli.js"

// `init` runs as the real command in a temporary directory. That the project it writes installs,
// type-checks and plans against the emulator is test/package.test.ts's part (it needs the packed packages).
// Child processes each start a TypeScript loader: slow on a busy 2-core machine, so generous.
const TIMEOUT = 300_000

describe("pipeline init", () => {
  it("writes the project into a new directory and says what to do next", { timeout: TIMEOUT }, async () => {
    const p = project()
    const r = await p.cli(["init", "My CRM"])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const dir = join(p.dir, "My CRM")
    for (const file of ["package.json", "tsconfig.json", "pipelines/crm.ts", ".env.example", ".gitignore"])
      expect(existsSync(join(dir, file)), file).toBe(true)
    expect(r.stdout).toContain('cd "My CRM" && npm install')
    expect(r.stdout).toContain("npx pipeline plan crm")

    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
    expect(pkg.name).toBe("my-crm")
    expect(pkg.type).toBe("module")
    expect(pkg.dependencies.b24etl).toBe("^0.1.0")
    // Exactly the effect the command runs with: another version would be a second copy.
    const effect = JSON.parse(readFileSync(join(__dirname, "../node_modules/effect/package.json"), "utf8"))
    expect(pkg.dependencies.effect).toBe(effect.version)

    const gitignore = readFileSync(join(dir, ".gitignore"), "utf8").split("\n")
    expect(gitignore).toEqual(expect.arrayContaining([".pipeline/", ".env", "node_modules/"]))
    const pipeline = readFileSync(join(dir, "pipelines/crm.ts"), "utf8")
    expect(pipeline).toContain('from "b24etl/Pipeline"')
    expect(pipeline).toContain('ref("company", r.account_id)')
  })

  it("lists every variable the command reads in .env.example", { timeout: TIMEOUT }, () => {
    const env = Scaffold.files("x", { b24etl: "0.1.0", effect: "3.0.0", typescript: "5.9.3" }).find(
      (f) => f.path === ".env.example",
    )!.content
    const oauth = ["PORTAL_URL", "CLIENT_ID", "CLIENT_SECRET", "ACCESS_TOKEN", "REFRESH_TOKEN", "TOKEN_URL"]
    const names = Object.keys(Commands.environment).flatMap((n) =>
      n === "BITRIX24_OAUTH_*" ? oauth.map((o) => `BITRIX24_OAUTH_${o}`) : [n],
    )
    for (const name of names) expect(env, name).toMatch(new RegExp(`^#? ?${name}=`, "m"))
  })

  it("in the working directory; refuses to write over existing files, writing nothing", {
    timeout: TIMEOUT,
  }, async () => {
    const p = project()
    writeFileSync(join(p.dir, "package.json"), "{}\n")
    const r = await p.cli(["init"])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("already has package.json: init writes nothing over existing files")
    expect(readFileSync(join(p.dir, "package.json"), "utf8")).toBe("{}\n")
    expect(existsSync(join(p.dir, "tsconfig.json"))).toBe(false)

    const q = project()
    const ok = await q.cli(["init"])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain("\n  npm install\n")
    expect(existsSync(join(q.dir, "pipelines/crm.ts"))).toBe(true)
  })

  it("has help with examples", { timeout: TIMEOUT }, async () => {
    const r = await project().cli(["init", "--help"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("Usage:\n  pnpm pipeline init [<dir>]")
    expect(r.stdout).toContain("pnpm pipeline init my-crm")
  })
})
