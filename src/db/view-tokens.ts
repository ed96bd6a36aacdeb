// Notification view tokens (the view_token_uses table) and who may still open one: one statement each.
import { sql } from "drizzle-orm";
import type { Database } from "./client.ts";

/**
 * Records a view token's first use: true when this call recorded it, false when it was used before.
 * One INSERT ... ON CONFLICT DO NOTHING on the jti (the primary key): of two concurrent opens exactly one
 * inserts the row, so a link opens its page once.
 */
export async function claimViewToken(
  db: Database,
  use: { jti: string; requestId: string; principalId: string; expiresAt: Date },
): Promise<boolean> {
  const result = await db.execute(sql`
    INSERT INTO view_token_uses (jti, request_id, principal_id, expires_at)
    VALUES (${use.jti}, ${use.requestId}, ${use.principalId}, ${use.expiresAt.toISOString()}::timestamptz)
    ON CONFLICT (jti) DO NOTHING
    RETURNING jti`);
  return result.rows.length === 1;
}

/**
 * Whether a view token's jti has been used: the check a link's click-through page makes, spending
 * nothing (claimViewToken stays the one place a use is recorded, and the race is decided there).
 */
export async function viewTokenUsed(db: Database, jti: string): Promise<boolean> {
  const result = await db.execute(sql`SELECT 1 FROM view_token_uses WHERE jti = ${jti} LIMIT 1`);
  return result.rows.length === 1;
}

/**
 * Whether `principalId` still holds a live (unrevoked) key covering `tenantId`: a link stops opening
 * once its principal's keys are revoked or no longer cover the request's tenant.
 */
export async function principalCoversTenant(
  db: Database,
  principalId: string,
  tenantId: string,
): Promise<boolean> {
  const result = await db.execute(sql`
    SELECT 1 FROM api_keys
    WHERE principal_id = ${principalId} AND revoked_at IS NULL
      AND (tenant_id IS NULL OR tenant_id = ${tenantId})
    LIMIT 1`);
  return result.rows.length === 1;
}

/**
 * Deletes up to `limit` uses of tokens that expired before `before`, oldest first (on the expires_at
 * index); returns how many went. Such a row is no longer needed: its token is refused as expired first.
 */
export async function deleteExpiredViewTokenUses(db: Database, before: Date, limit: number): Promise<number> {
  const result = await db.execute(sql`
    WITH gone AS (
      DELETE FROM view_token_uses
      WHERE jti IN (
        SELECT jti FROM view_token_uses
        WHERE expires_at < ${before.toISOString()}::timestamptz
        ORDER BY expires_at
        LIMIT ${limit}
      )
      RETURNING 1
    )
    SELECT count(*)::int AS deleted FROM gone`);
  return Number((result.rows[0] as { deleted: number } | undefined)?.deleted ?? 0);
}
