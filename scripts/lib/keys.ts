// Creating and revoking API keys straight in the database, for operators with database access only
// (scripts/keys.ts) and for `npm run dev`. Writes the same rows and audit events as the admin API.
import os from "node:os";
import { and, eq, isNull, sql } from "drizzle-orm";
import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import { type KeySummary, newKeyRows, toKeySummary } from "../../src/db/api-keys.ts";
import { apiKeys, auditEvents } from "../../src/db/schema.ts";
import { generateApiKey, parseApiKey, type Role, secretMatches } from "../../src/domain/api-keys.ts";

export interface CreateKeyOptions {
  principalId: string;
  role: Role;
  maxLevel: number;
  tenantId?: string | null;
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
  return withDb(url, (db) =>
    db.transaction(async (tx) => {
      const [revoked] = await tx
        .update(apiKeys)
        .set({ revokedAt: sql`now()`, revokedBy: operatorName() })
        .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)))
        .returning();
      if (revoked) {
        await tx.insert(auditEvents).values({
          actor: operatorName(),
          actorKeyId: "cli",
          action: "api_key.revoke",
          targetType: "api_key",
          targetId: keyId,
          before: { revoked_at: null },
          after: { revoked_at: revoked.revokedAt?.toISOString(), revoked_by: revoked.revokedBy },
        });
      }
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

/** Whether `token` is a key of this database that still works. */
export async function keyIsUsable(url: string, token: string): Promise<boolean> {
  const parsed = parseApiKey(token);
  if (!parsed) return false;
  return withDb(url, async (db) => {
    const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, parsed.keyId));
    return Boolean(row && !row.revokedAt && (await secretMatches(parsed.secret, row.secretHash)));
  });
}
