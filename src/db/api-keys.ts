// API key rows and their audit events, shared by the admin API and the operator CLI (scripts/keys.ts)
// so both write exactly the same thing.
import type { GeneratedKey, Role } from "../domain/api-keys.ts";
import { levelName } from "../domain/vocabulary.ts";
import type { ApiKeyRow, auditEvents } from "./schema.ts";

export interface NewKeyInput {
  principalId: string;
  role: Role;
  maxLevel: number;
  tenantId: string | null;
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
