// Creating and revoking API keys straight in the database, for operators with database access only
// (scripts/keys.ts) and for `npm run dev`. Writes the same rows and audit events as the admin API.
import os from "node:os";
import { eq } from "drizzle-orm";
import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import {
  type KeySummary,
  newKeyRows,
  revocationAuditStatement,
  revokeKeyStatement,
  toKeySummary,
} from "../../src/db/api-keys.ts";
import { apiKeys, auditEvents } from "../../src/db/schema.ts";
import { generateApiKey, parseApiKey, secretMatches } from "../../src/domain/api-keys.ts";
import type { Role } from "../../src/domain/vocabulary.ts";

export interface CreateKeyOptions {
  principalId: string;
  role: Role;
  maxLevel: number;
  tenantId?: string | null;
  agentIds?: string[] | null;
  name?: string | null;
}

/** Who an operator command acts as, in the audit trail. */
export function operatorName(): string {
  return `cli:${os.userInfo().username}`;
}

async function withDb<T>(url: string, work: (db: NodePgDatabase) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(drizzle(client));
  } finally {
    await client.end();
  }
}

export async function createKey(
  url: string,
  options: CreateKeyOptions,
): Promise<KeySummary & { api_key: string }> {
  const generated = await generateApiKey();
  const { key, audit } = newKeyRows(
    {
      principalId: options.principalId,
      role: options.role,
      maxLevel: options.maxLevel,
      tenantId: options.tenantId ?? null,
      agentIds: options.agentIds ?? null,
      name: options.name ?? null,
      createdBy: operatorName(),
      actorKeyId: "cli",
    },
    generated,
  );
  await withDb(url, (db) =>
    db.transaction(async (tx) => {
      await tx.insert(apiKeys).values(key);
      await tx.insert(auditEvents).values(audit);
    }),
  );
  return { ...toKeySummary(key), api_key: generated.token };
}

export async function revokeKey(url: string, keyId: string): Promise<KeySummary | undefined> {
  const actor = { principalId: operatorName(), keyId: "cli" };
  return withDb(url, (db) =>
    db.transaction(async (tx) => {
      await tx.execute(revokeKeyStatement(keyId, actor));
      await tx.execute(revocationAuditStatement(keyId, actor));
      const [row] = await tx.select().from(apiKeys).where(eq(apiKeys.id, keyId));
      return row ? toKeySummary(row) : undefined;
    }),
  );
}

export async function listKeys(url: string): Promise<KeySummary[]> {
  return withDb(url, async (db) =>
    (await db.select().from(apiKeys).orderBy(apiKeys.createdAt)).map(toKeySummary),
  );
}

/** The key `token` stands for in this database, if it still works. */
export async function usableKey(url: string, token: string): Promise<KeySummary | undefined> {
  const parsed = parseApiKey(token);
  if (!parsed) return undefined;
  return withDb(url, async (db) => {
    const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, parsed.keyId));
    const works = row && !row.revokedAt && (await secretMatches(parsed.secret, row.secretHash));
    return works ? toKeySummary(row) : undefined;
  });
}
