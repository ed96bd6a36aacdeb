// Approver console sessions (the console_sessions table): one statement each.
import { and, eq, gt, isNull, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { type ApiKeyRow, apiKeys, consoleSessions } from "./schema.ts";

/**
 * Opens a session and signs out the key's oldest live ones beyond `maxLive` (this one included), in one
 * statement. The UPDATE sees the table as it was before the statement, so it keeps the newest
 * `maxLive - 1` sessions that were live already; returns how many it signed out.
 */
export async function insertSessionWithinCap(
  db: Database,
  session: { tokenHash: string; keyId: string; expiresAt: Date },
  maxLive: number,
): Promise<number> {
  const result = await db.execute(sql`
    WITH opened AS (
      INSERT INTO console_sessions (token_hash, key_id, expires_at)
      VALUES (${session.tokenHash}, ${session.keyId}, ${session.expiresAt.toISOString()}::timestamptz)
    ),
    signed_out AS (
      UPDATE console_sessions SET revoked_at = now()
      WHERE token_hash IN (
        SELECT token_hash FROM console_sessions
        WHERE key_id = ${session.keyId} AND revoked_at IS NULL AND expires_at > now()
        ORDER BY created_at DESC, token_hash DESC
        OFFSET ${maxLive - 1}
      )
      RETURNING 1
    )
    SELECT count(*)::int AS signed_out FROM signed_out`);
  return Number((result.rows[0] as { signed_out: number } | undefined)?.signed_out ?? 0);
}

/**
 * Deletes at most `limit` ended sessions (expired, or signed out: neither can be used again), so the
 * table holds little more than the live ones; returns how many.
 */
export async function deleteEndedSessions(db: Database, limit: number): Promise<number> {
  const result = await db.execute(sql`
    WITH ended AS (
      DELETE FROM console_sessions
      WHERE token_hash IN (
        SELECT token_hash FROM console_sessions
        WHERE expires_at <= now() OR revoked_at IS NOT NULL
        LIMIT ${limit}
      )
      RETURNING 1
    )
    SELECT count(*)::int AS deleted FROM ended`);
  return Number((result.rows[0] as { deleted: number } | undefined)?.deleted ?? 0);
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
