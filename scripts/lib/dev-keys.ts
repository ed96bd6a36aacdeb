// Local API keys for `npm run dev`: created once, kept in .data/dev-keys.json (git-ignored, mode 0600)
// and reused while they still work in the local database.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Role } from "../../src/domain/api-keys.ts";
import { createKey, keyIsUsable } from "./keys.ts";

interface DevKeySpec {
  label: string;
  principalId: string;
  role: Role;
  maxLevel: number;
  tenantId: string | null;
}

const DEV_KEYS: DevKeySpec[] = [
  { label: "admin", principalId: "dev-admin", role: "admin", maxLevel: 5, tenantId: null },
  { label: "approver", principalId: "dev-approver", role: "approver", maxLevel: 4, tenantId: null },
  { label: "agent", principalId: "dev-agent", role: "agent", maxLevel: 1, tenantId: "demo" },
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
    if (existing && (await keyIsUsable(url, existing))) {
      keys[spec.label] = existing;
      continue;
    }
    const created = await createKey(url, { ...spec, name: `npm run dev ${spec.label}` });
    keys[spec.label] = created.api_key;
  }
  writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  return keys;
}

export function describeDevKeys(keys: Record<string, string>): string[] {
  return [
    ...DEV_KEYS.map((spec) => {
      const scope = spec.tenantId ? `tenant ${spec.tenantId}` : "all tenants";
      return `  ${spec.label.padEnd(8)} ${keys[spec.label]}  (${spec.principalId}, level ${spec.maxLevel}, ${scope})`;
    }),
  ];
}
