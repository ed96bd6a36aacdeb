// Approver console sessions (the console_sessions table): one statement each.
import { and, eq, gt, isNull, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { type ApiKeyRow, apiKeys, consoleSessions } from "./schema.ts";

export async function insertSession(
  db: Database,
  session: { tokenHash: string; keyId: string; expiresAt: Date },
): Promise<void> {
  await db.insert(consoleSessions).values(session);
}

/**
 * The key behind a live session, in one round trip: the session not signed out or expired, and the
 * key itself not revoked (a revoked key ends its sessions at once).
 */
export async function findSessionKey(
  db: Database,
  tokenHash: string,
): Promise<{ key: ApiKeyRow; expiresAt: Date } | undefined> {
  const [row] = await db
    .select({ key: apiKeys, expiresAt: consoleSessions.expiresAt })
    .from(consoleSessions)
    .innerJoin(apiKeys, eq(apiKeys.id, consoleSessions.keyId))
    .where(
      and(
        eq(consoleSessions.tokenHash, tokenHash),
        isNull(consoleSessions.revokedAt),
        gt(consoleSessions.expiresAt, sql`now()`),
        isNull(apiKeys.revokedAt),
      ),
    )
    .limit(1);
  return row;
}

/** Signs a session out; true when it was live. */
export async function revokeSession(db: Database, tokenHash: string): Promise<boolean> {
  const rows = await db
    .update(consoleSessions)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(consoleSessions.tokenHash, tokenHash), isNull(consoleSessions.revokedAt)))
    .returning({ tokenHash: consoleSessions.tokenHash });
  return rows.length > 0;
}
