// Local API keys for `npm run dev`: created once, kept in .data/dev-keys.json (git-ignored, mode 0600)
// and reused while they still work in the local database.
import { generateKeyPairSync } from "node:crypto";
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
  // Acts for the demo's agents (bot-1, bot-2, ...), as the examples in README.md and docs/API.md do.
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
export interface DevSecrets {
  WEBHOOK_ENCRYPTION_KEY: string;
  WEBHOOK_SIGNING_SECRETS: string;
  /** Ed25519 private key (PKCS#8 DER, base64) signing the audit checkpoints. */
  AUDIT_SIGNING_KEY: string;
  /** Another Ed25519 private key, signing approval receipts. */
  RECEIPT_SIGNING_KEY: string;
  /** A local VAPID pair for Web Push (issue 31): the public key (base64url point) and private scalar. */
  VAPID_PUBLIC_KEY: string;
  VAPID_PRIVATE_KEY: string;
}

/** A P-256 VAPID key pair in the forms the worker reads (src/config.ts): base64url point and scalar. */
export function vapidKeyPair(): { VAPID_PUBLIC_KEY: string; VAPID_PRIVATE_KEY: string } {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const jwk = privateKey.export({ format: "jwk" });
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x ?? "", "base64url"),
    Buffer.from(jwk.y ?? "", "base64url"),
  ]);
  return { VAPID_PUBLIC_KEY: point.toString("base64url"), VAPID_PRIVATE_KEY: jwk.d ?? "" };
}

/**
 * The local secrets: made once (32 random bytes each) and kept in .data/dev-secrets.json; a file from
 * before a secret existed gets it added.
 */
/** A new Ed25519 private key, PKCS#8 DER, base64: the format of AUDIT_SIGNING_KEY and RECEIPT_SIGNING_KEY. */
export function ed25519Pkcs8(): string {
  return generateKeyPairSync("ed25519")
    .privateKey.export({ type: "pkcs8", format: "der" })
    .toString("base64");
}

export function devSecrets(dataDir: string): DevSecrets {
  const file = path.join(dataDir, "dev-secrets.json");
  let saved: Partial<DevSecrets> = {};
  try {
    saved = JSON.parse(readFileSync(file, "utf8")) as Partial<DevSecrets>;
  } catch {
    // First run: make them.
  }
  const random = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  const secrets: DevSecrets = {
    WEBHOOK_ENCRYPTION_KEY: saved.WEBHOOK_ENCRYPTION_KEY ?? random(),
    WEBHOOK_SIGNING_SECRETS: saved.WEBHOOK_SIGNING_SECRETS ?? `1:whsec_${random()}`,
    AUDIT_SIGNING_KEY: saved.AUDIT_SIGNING_KEY ?? ed25519Pkcs8(),
    RECEIPT_SIGNING_KEY: saved.RECEIPT_SIGNING_KEY ?? ed25519Pkcs8(),
    ...(saved.VAPID_PUBLIC_KEY && saved.VAPID_PRIVATE_KEY
      ? { VAPID_PUBLIC_KEY: saved.VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY: saved.VAPID_PRIVATE_KEY }
      : vapidKeyPair()),
  };
  if (JSON.stringify(secrets) !== JSON.stringify(saved)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  }
  return secrets;
}

export function describeDevKeys(keys: Record<string, string>): string[] {
  return [
    ...DEV_KEYS.map((spec) => {
      const scope = spec.tenantId ? `tenant ${spec.tenantId}` : "all tenants";
      return `  ${spec.label.padEnd(8)} ${keys[spec.label]}  (${spec.principalId}, level ${spec.maxLevel}, ${scope})`;
    }),
  ];
}
