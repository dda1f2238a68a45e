// cli-progress is CommonJS; its namespace import is the module object under NodeNext.
import CliProgress from "cli-progress"

export { CliProgress }
