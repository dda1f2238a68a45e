import { defineConfig } from "vitest/config"

// One root config; each workspace folder is a project so `vitest run` runs every test.
// Database-backed tests share real servers, so each test file owns its own database or schema.
const project = (name: string, root: string, timeout = 60_000) => ({
  test: { name, root, include: ["test/**/*.test.ts"], testTimeout: timeout, hookTimeout: timeout },
})

export default defineConfig({
  test: {
    projects: [
      project("core", "packages/core"),
      project("connectors", "packages/connectors"),
      project("sinks", "packages/sinks", 300_000),
      project("cli", "packages/cli"),
      project("bitrix24-emulator", "packages/bitrix24-emulator"),
      {
        test: {
          name: "e2e",
          root: "test",
          include: ["**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 120_000,
        },
      },
    ],
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
})
