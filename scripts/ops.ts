// npm run ops -- <command> [--json]: the operator CLI over the HTTP API (status, stats, pending, the
// escalation and webhook switches, auto-approve, reject-pending, the principal directory's contacts,
// delegations). POLICY_API_URL (default http://127.0.0.1:8000) and POLICY_API_KEY (an admin key);
// `npm run ops -- --help` lists the commands.
// The work is in scripts/lib/ops.ts; exit 0 done, 1 the API refused or is unreachable, 2 usage.

import { createInterface } from "node:readline";
import { runCore } from "./lib/cli.ts";
import { LOCAL } from "./lib/local-stack.ts";
import { runOps } from "./lib/ops.ts";

/** The first `count` lines of standard input (fewer if it ends first): a pipe, a file, or typed lines. */
async function readLines(count: number): Promise<string[]> {
  const lines: string[] = [];
  const input = createInterface({ input: process.stdin, terminal: false });
  for await (const line of input) {
    lines.push(line);
    if (lines.length >= count) break;
  }
  input.close();
  return lines;
}

await runCore("npm run ops", process.argv.slice(2), (argv) =>
  runOps(argv, {
    fetch: globalThis.fetch,
    env: { ...process.env, POLICY_API_URL: LOCAL.apiUrl },
    write: (text, stream = "stdout") =>
      (stream === "stdout" ? process.stdout : process.stderr).write(`${text}\n`),
    readLines,
  }),
);
