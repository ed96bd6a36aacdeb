// Local API keys for `npm run dev`: created once, kept in .data/dev-keys.json (git-ignored, mode 0600)
// and reused while they still work in the local database.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Role } from "../../src/domain/vocabulary.ts";
import { createKey, usableKey } from "./keys.ts";

interface DevKeySpec {
  label: string;
  principalId: string;
  role: Role;
  maxLevel: number;
  tenantId: string | null;
  agentIds?: string[];
}

const DEV_KEYS: DevKeySpec[] = [
  { label: "admin", principalId: "dev-admin", role: "admin", maxLevel: 5, tenantId: null },
  { label: "approver", principalId: "dev-approver", role: "approver", maxLevel: 4, tenantId: null },
  // Acts for the demo's agents (bot-1, bot-2, ...), as the README's examples do.
  {
    label: "agent",
    principalId: "dev-agent",
    role: "agent",
    maxLevel: 1,
    tenantId: "demo",
    agentIds: ["bot-*"],
  },
];

export async function ensureDevKeys(url: string, dataDir: string): Promise<Record<string, string>> {
  const file = path.join(dataDir, "dev-keys.json");
  let saved: Record<string, string> = {};
  try {
    saved = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
  } catch {
    // First run, or the file was removed: create fresh keys.
  }
  const keys: Record<string, string> = {};
  for (const spec of DEV_KEYS) {
    const existing = saved[spec.label];
    const current = existing ? await usableKey(url, existing) : undefined;
    // Reused only while it still is what this script makes (a key from before agent binding is not).
    if (existing && current && JSON.stringify(current.agent_ids) === JSON.stringify(spec.agentIds ?? null)) {
      keys[spec.label] = existing;
      continue;
    }
    const created = await createKey(url, { ...spec, name: `npm run dev ${spec.label}` });
    keys[spec.label] = created.api_key;
  }
  writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  return keys;
}

/**
 * The local WEBHOOK_ENCRYPTION_KEY: 32 random bytes made once and kept in .data/dev-secrets.json
 * (mode 0600), so webhook secrets stored by earlier runs stay readable.
 */
export function devWebhookEncryptionKey(dataDir: string): string {
  const file = path.join(dataDir, "dev-secrets.json");
  try {
    const saved = JSON.parse(readFileSync(file, "utf8")) as { WEBHOOK_ENCRYPTION_KEY?: string };
    if (saved.WEBHOOK_ENCRYPTION_KEY) return saved.WEBHOOK_ENCRYPTION_KEY;
  } catch {
    // First run: make one.
  }
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify({ WEBHOOK_ENCRYPTION_KEY: key }, null, 2)}\n`, { mode: 0o600 });
  return key;
}

export function describeDevKeys(keys: Record<string, string>): string[] {
  return [
    ...DEV_KEYS.map((spec) => {
      const scope = spec.tenantId ? `tenant ${spec.tenantId}` : "all tenants";
      return `  ${spec.label.padEnd(8)} ${keys[spec.label]}  (${spec.principalId}, level ${spec.maxLevel}, ${scope})`;
    }),
  ];
}
