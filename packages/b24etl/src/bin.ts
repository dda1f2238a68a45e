#!/usr/bin/env node
/**
 * The `pipeline` command of an installed b24etl (`npx pipeline <command>`), compiled to
 * JavaScript: only the user's pipeline files go through a TypeScript loader, when one is loaded.
 */

// Hints and help name the command as the user types it here (`pnpm pipeline` in a clone).
process.env.B24ETL_PROGRAM ??= "npx pipeline"
await import("@b24etl/cli/bin")
