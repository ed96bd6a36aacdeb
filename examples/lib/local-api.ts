// Where the SDK examples find the API and their key: POLICY_API_URL (default the `npm run dev` server)
// and POLICY_AGENT_KEY, else the agent key `npm run dev` wrote to .data/dev-keys.json. One place, so
// every example works against `npm run dev` unchanged.
import { readFileSync } from "node:fs";
import path from "node:path";

export const baseUrl = process.env.POLICY_API_URL ?? "http://127.0.0.1:8000";

export function agentKey(): string {
  if (process.env.POLICY_AGENT_KEY) return process.env.POLICY_AGENT_KEY;
  const file = path.resolve(import.meta.dirname, "../../.data/dev-keys.json");
  try {
    const keys = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
    if (keys.agent) return keys.agent;
  } catch {
    // No file: npm run dev has not run here.
  }
  throw new Error(`no agent key: set POLICY_AGENT_KEY, or run npm run dev once (it writes ${file})`);
}
