// API keys for tests, written straight to the file's database with the same rows the API writes.
import { eq, sql } from "drizzle-orm";
import { newKeyRows } from "../../src/db/api-keys.ts";
import { createDb } from "../../src/db/client.ts";
import { apiKeys, auditEvents } from "../../src/db/schema.ts";
import { generateApiKey } from "../../src/domain/api-keys.ts";
import type { Role } from "../../src/domain/vocabulary.ts";
import { testEnv } from "./database.ts";

export interface TestKey {
  token: string;
  keyId: string;
  principalId: string;
  headers: { Authorization: string };
}

export async function createTestKey(
  role: Role,
  options: {
    principalId?: string;
    maxLevel?: number;
    tenantId?: string | null;
    /** Agent keys default to platform keys (["*"]) so tests may name any agent; null binds to the principal. */
    agentIds?: string[] | null;
    revoked?: boolean;
  } = {},
): Promise<TestKey> {
  const generated = await generateApiKey();
  const principalId = options.principalId ?? `${role}-${generated.keyId.slice(0, 6)}`;
  const { key, audit } = newKeyRows(
    {
      principalId,
      role,
      maxLevel: options.maxLevel ?? { agent: 1, approver: 3, admin: 5 }[role],
      tenantId: options.tenantId ?? null,
      agentIds: options.agentIds !== undefined ? options.agentIds : role === "agent" ? ["*"] : null,
      name: `test ${role}`,
      createdBy: "test-setup",
      actorKeyId: "test",
    },
    generated,
  );
  const db = createDb(testEnv());
  await db.batch([db.insert(apiKeys).values(key), db.insert(auditEvents).values(audit)]);
  if (options.revoked) {
    await db
      .update(apiKeys)
      .set({ revokedAt: sql`now()`, revokedBy: "test-setup" })
      .where(eq(apiKeys.id, key.id));
  }
  return {
    token: generated.token,
    keyId: generated.keyId,
    principalId,
    headers: { Authorization: `Bearer ${generated.token}` },
  };
}

export { TEST_ADMIN_API_KEY } from "../setup/test-secrets.ts";
