// Statements behind Slack interactions (issue 26): who a Slack user is (the verified link), the keys
// that principal may decide with over a tenant, and the receipt that refuses a replayed interaction.
import { and, desc, eq, inArray, isNull, or, sql } from "drizzle-orm";
import type { Role } from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import { type ApiKeyRow, apiKeys, type SlackUserLinkRow, slackUserLinks } from "./schema.ts";

export async function findSlackUserLink(
  db: Database,
  teamId: string,
  slackUserId: string,
): Promise<SlackUserLinkRow | undefined> {
  const [row] = await db
    .select()
    .from(slackUserLinks)
    .where(and(eq(slackUserLinks.teamId, teamId), eq(slackUserLinks.slackUserId, slackUserId)));
  return row;
}

/** The principal's live keys of `roles` covering `tenantId` (scoped to it, or to every tenant), highest level first. */
export async function liveKeysCoveringTenant(
  db: Database,
  principalId: string,
  tenantId: string,
  roles: readonly Role[],
): Promise<ApiKeyRow[]> {
  return db
    .select()
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.principalId, principalId),
        isNull(apiKeys.revokedAt),
        inArray(apiKeys.role, [...roles]),
        or(isNull(apiKeys.tenantId), eq(apiKeys.tenantId, tenantId)),
      ),
    )
    .orderBy(desc(apiKeys.maxLevel), apiKeys.id)
    .limit(20);
}

/**
 * Records an interaction's signature hash: true when this call recorded it, false when it was seen
 * before (a replay). One INSERT … ON CONFLICT DO NOTHING, so of two concurrent copies exactly one
 * passes; the same statement deletes a bounded batch of expired receipts, so the table needs no job.
 */
export async function recordSlackReceipt(
  db: Database,
  receipt: { signatureHash: string; tenantId: string; expiresAt: Date },
): Promise<boolean> {
  const result = await db.execute(sql`
    WITH purged AS (
      DELETE FROM slack_interaction_receipts
      WHERE signature_hash IN (
        SELECT signature_hash FROM slack_interaction_receipts WHERE expires_at < now() LIMIT 100
      )
    )
    INSERT INTO slack_interaction_receipts (signature_hash, tenant_id, expires_at)
    VALUES (${receipt.signatureHash}, ${receipt.tenantId}, ${receipt.expiresAt.toISOString()}::timestamptz)
    ON CONFLICT (signature_hash) DO NOTHING
    RETURNING signature_hash`);
  return result.rows.length === 1;
}
