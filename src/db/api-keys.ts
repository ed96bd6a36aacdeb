// API key rows and their audit events, shared by the admin API (services/keys.ts) and the operator
// CLI (scripts/keys.ts) so both write exactly the same thing.
import { and, desc, eq, isNull, type SQL, sql } from "drizzle-orm";
import type { GeneratedKey } from "../domain/api-keys.ts";
import { levelName, type Role } from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import { type ApiKeyRow, apiKeys, auditEvents } from "./schema.ts";

export interface NewKeyInput {
  principalId: string;
  role: Role;
  maxLevel: number;
  tenantId: string | null;
  /** Agent keys: the agents it may act for (exact ids or prefixes ending in *); null: only itself. */
  agentIds?: string[] | null | undefined;
  name: string | null;
  /** Principal of whoever creates the key. */
  createdBy: string;
  /** Key id of whoever creates it ("bootstrap", "cli", or a key id). */
  actorKeyId: string;
  requestId?: string | undefined;
}

/** The public view of a key: never the secret, never its hash. */
export interface KeySummary {
  key_id: string;
  name: string | null;
  principal_id: string;
  role: Role;
  max_level: number;
  max_level_name: string | null;
  tenant_id: string | null;
  agent_ids: string[] | null;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
  revoked_by: string | null;
  last_used_at: string | null;
}

export function toKeySummary(row: ApiKeyRow): KeySummary {
  return {
    key_id: row.id,
    name: row.name,
    principal_id: row.principalId,
    role: row.role,
    max_level: row.maxLevel,
    max_level_name: levelName(row.maxLevel) ?? null,
    tenant_id: row.tenantId,
    agent_ids: row.agentIds,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    revoked_at: row.revokedAt?.toISOString() ?? null,
    revoked_by: row.revokedBy,
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
  };
}

export function newKeyRows(input: NewKeyInput, generated: GeneratedKey, now = new Date()) {
  const key: ApiKeyRow = {
    id: generated.keyId,
    secretHash: generated.secretHash,
    name: input.name,
    principalId: input.principalId,
    role: input.role,
    maxLevel: input.maxLevel,
    tenantId: input.tenantId,
    agentIds: input.agentIds ?? null,
    createdBy: input.createdBy,
    createdAt: now,
    revokedAt: null,
    revokedBy: null,
    lastUsedAt: null,
  };
  const audit: typeof auditEvents.$inferInsert = {
    actor: input.createdBy,
    actorKeyId: input.actorKeyId,
    action: "api_key.create",
    targetType: "api_key",
    targetId: generated.keyId,
    after: { ...toKeySummary(key) },
    requestId: input.requestId,
  };
  return { key, audit };
}

/** Who revokes a key, as the audit trail names them. */
export interface KeyActor {
  principalId: string;
  /** "bootstrap", "cli", or a key id. */
  keyId: string;
  requestId?: string | null | undefined;
}

/** Marks the key revoked unless it already is (revoked_at = now(): the transaction's start time). */
export function revokeKeyStatement(keyId: string, actor: KeyActor): SQL {
  return sql`UPDATE ${apiKeys} SET revoked_at = now(), revoked_by = ${actor.principalId}
    WHERE id = ${keyId} AND revoked_at IS NULL`;
}

/**
 * The audit row of a revocation, written only for a revocation made by this transaction (its
 * revoked_at equals the transaction's now()), so revoking twice audits once. Run after
 * revokeKeyStatement in the same transaction.
 */
export function revocationAuditStatement(keyId: string, actor: KeyActor): SQL {
  return sql`
    INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, before, after, request_id)
    SELECT ${actor.principalId}, ${actor.keyId}, 'api_key.revoke', 'api_key', id,
           jsonb_build_object('revoked_at', NULL),
           jsonb_build_object('revoked_at', revoked_at, 'revoked_by', revoked_by),
           ${actor.requestId ?? null}
      FROM ${apiKeys} WHERE id = ${keyId} AND revoked_at = now()`;
}

export async function findKey(db: Database, keyId: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, keyId));
  return row;
}

/** Inserts a key and its audit event in one round trip: both commit or neither. */
export async function insertKey(
  db: Database,
  rows: { key: ApiKeyRow; audit: typeof auditEvents.$inferInsert },
): Promise<ApiKeyRow> {
  const [[row]] = await db.batch([
    db.insert(apiKeys).values(rows.key).returning(),
    db.insert(auditEvents).values(rows.audit),
  ]);
  if (!row) throw new Error("insert returned no row");
  return row;
}

/** Revokes (idempotently) and audits, then reads the key as it stands: one round trip. */
export async function revokeKey(
  db: Database,
  keyId: string,
  actor: KeyActor,
): Promise<ApiKeyRow | undefined> {
  const [, , [row]] = await db.batch([
    db.execute(revokeKeyStatement(keyId, actor)),
    db.execute(revocationAuditStatement(keyId, actor)),
    db.select().from(apiKeys).where(eq(apiKeys.id, keyId)),
  ]);
  return row;
}

export interface KeyFilter {
  role?: Role | undefined;
  tenantId?: string | undefined;
  principalId?: string | undefined;
  includeRevoked: boolean;
}

export async function listKeys(
  db: Database,
  filter: KeyFilter,
  page: { limit: number; offset: number },
): Promise<ApiKeyRow[]> {
  return db
    .select()
    .from(apiKeys)
    .where(
      and(
        filter.role ? eq(apiKeys.role, filter.role) : undefined,
        filter.tenantId ? eq(apiKeys.tenantId, filter.tenantId) : undefined,
        filter.principalId ? eq(apiKeys.principalId, filter.principalId) : undefined,
        filter.includeRevoked ? undefined : isNull(apiKeys.revokedAt),
      ),
    )
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .limit(page.limit)
    .offset(page.offset);
}

/** Refreshes last_used_at (best effort, off the request path). */
export async function touchKey(db: Database, keyId: string): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, keyId));
}
