// npm run -s dev:env: the local keys and address as shell `export` lines, for
// `eval "$(npm run -s dev:env)"` in another terminal while `npm run dev` runs (issue 32). The keys come
// from .data/dev-keys.json (written by `npm run dev` on the embedded database), the address from the
// running stack's record (scripts/lib/local-stack.ts). The names are the ones README.md and docs/ use.
import { readFileSync } from "node:fs";
import path from "node:path";
import { runCli, UsageError } from "./lib/cli.ts";
import { LOCAL } from "./lib/local-stack.ts";

const USAGE = `usage: eval "$(npm run -s dev:env)"
  prints export lines for the keys \`npm run dev\` made (.data/dev-keys.json) and the API's address:
  API, POLICY_API_URL           the local API (http://127.0.0.1:8000 unless dev runs elsewhere)
  ADMIN_KEY, POLICY_API_KEY     the admin key (the ops and policy CLIs read POLICY_API_KEY)
  AGENT_KEY, POLICY_AGENT_KEY   the agent key of tenant demo's bots (the SDKs read POLICY_AGENT_KEY)
  APPROVER_KEY                  the approver key (the console's sign-in)
  DEV_KEYS_FILE                 read the keys from this file instead of .data/dev-keys.json`;

/** Single-quoted for the shell: the keys are [A-Za-z0-9_] today, but a file may hold anything. */
const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

await runCli({ name: "npm run dev:env", usage: USAGE }, process.argv.slice(2), async (argv) => {
  if (argv.length > 0) throw new UsageError(`takes no arguments (got ${argv.join(" ")})`);
  // DEV_KEYS_FILE: another stack's keys (the README check's throwaway stack writes its own).
  const file = process.env.DEV_KEYS_FILE || path.join(path.dirname(LOCAL.dataDir), "dev-keys.json");
  let keys: Record<string, string>;
  try {
    keys = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
  } catch {
    throw new Error(
      `no keys in ${path.relative(process.cwd(), file) || file}: run \`npm run dev\` once first`,
    );
  }
  const api = LOCAL.apiUrl;
  const lines: [string, string | undefined][] = [
    ["API", api],
    ["POLICY_API_URL", api],
    ["ADMIN_KEY", keys.admin],
    ["AGENT_KEY", keys.agent],
    ["APPROVER_KEY", keys.approver],
    ["POLICY_API_KEY", keys.admin],
    ["POLICY_AGENT_KEY", keys.agent],
  ];
  const missing = lines.filter(([, value]) => !value).map(([name]) => name);
  if (missing.length) throw new Error(`${file} lacks ${missing.join(", ")}: run \`npm run dev\` again`);
  for (const [name, value] of lines) console.log(`export ${name}=${quote(value ?? "")}`);
  return 0;
});
