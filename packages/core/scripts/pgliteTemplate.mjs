// Run by `pnpm build` after tsc: writes pglite-template.tgz, the empty data directory a new
// embedded store starts from (see src/internal/state/pgliteTemplate.ts).
import { write } from "../dist/internal/state/pgliteTemplate.js"

await write()
