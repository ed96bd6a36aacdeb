// npm run ops -- <command> [--json]: the operator CLI over the HTTP API (status, stats, pending, the
// escalation and webhook switches, auto-approve, reject-pending, the principal directory's contacts). POLICY_API_URL (default
// http://127.0.0.1:8000) and POLICY_API_KEY (an admin key). `npm run ops -- --help` lists the commands.
// The work is in scripts/lib/ops.ts; exit 0 done, 1 the API refused or is unreachable, 2 usage.
import { runOps } from "./lib/ops.ts";

process.exitCode = await runOps(process.argv.slice(2), {
  fetch: globalThis.fetch,
  env: process.env,
  write: (text, stream = "stdout") =>
    (stream === "stdout" ? process.stdout : process.stderr).write(`${text}\n`),
});
