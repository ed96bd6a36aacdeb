// API keys as operations: resolve a presented token to a principal (with a short per-isolate cache),
// create, list, read and revoke. The operator CLI writes the same rows through src/db/api-keys.ts.
import {
  findKey,
  insertKey,
  type KeyFilter,
  type KeySummary,
  listKeys,
  newKeyRows,
  revokeKey as revokeKeyRow,
  toKeySummary,
  touchKey,
} from "../db/api-keys.ts";
import type { ApiKeyRow } from "../db/schema.ts";
import { checkNewKey, keyRevocationRefusal, type Principal } from "../domain/access.ts";
import { generateApiKey, parseApiKey, secretMatches } from "../domain/api-keys.ts";
import type { Role } from "../domain/vocabulary.ts";
import { ApiError, invalidField } from "../lib/errors.ts";
import type { ServiceContext } from "./context.ts";

/** How long a key lookup is reused in one isolate: also the longest a revocation takes to reach every isolate. */
export const KEY_CACHE_TTL_MS = 15_000;
const KEY_CACHE_MAX_ENTRIES = 10_000;
/** last_used_at is refreshed at most this often per key. */
const LAST_USED_RESOLUTION_MS = 60_000;

const keyCache = new Map<string, { row: ApiKeyRow | undefined; expiresAt: number }>();

async function lookupKey(ctx: ServiceContext, keyId: string): Promise<ApiKeyRow | undefined> {
  const cached = keyCache.get(keyId);
  if (cached && cached.expiresAt > Date.now()) return cached.row;
  const row = await findKey(ctx.db, keyId);
  if (keyCache.size >= KEY_CACHE_MAX_ENTRIES) keyCache.clear();
  keyCache.set(keyId, { row, expiresAt: Date.now() + KEY_CACHE_TTL_MS });
  return row;
}

export type KeyRefusal = "malformed" | "unknown" | "revoked";

export function principalOf(row: ApiKeyRow): Principal {
  return {
    keyId: row.id,
    principalId: row.principalId,
    role: row.role,
    maxLevel: row.maxLevel,
    tenantId: row.tenantId,
    agentIds: row.agentIds,
  };
}

/** The principal a database key token stands for, or why it is refused (with the key id when known). */
export async function resolveApiKey(
  ctx: ServiceContext,
  token: string,
): Promise<{ principal: Principal } | { refused: KeyRefusal; keyId?: string }> {
  const parsed = parseApiKey(token);
  if (!parsed) return { refused: "malformed" };
  const row = await lookupKey(ctx, parsed.keyId);
  if (!row || !(await secretMatches(parsed.secret, row.secretHash))) {
    return { refused: "unknown", keyId: parsed.keyId };
  }
  if (row.revokedAt) return { refused: "revoked", keyId: parsed.keyId };
  touchLastUsed(ctx, row);
  return { principal: principalOf(row) };
}

function touchLastUsed(ctx: ServiceContext, row: ApiKeyRow): void {
  if (row.lastUsedAt && Date.now() - row.lastUsedAt.getTime() < LAST_USED_RESOLUTION_MS) return;
  row.lastUsedAt = new Date();
  ctx.waitUntil(
    touchKey(ctx.db, row.id).catch((error: unknown) =>
      ctx.log.warn("api_key_last_used_update_failed", { key_id: row.id, error }),
    ),
  );
}

export interface NewKeyCommand {
  principalId: string;
  role: Role;
  maxLevel: number | undefined;
  tenantId: string | null;
  /** Agent keys: the agents it may act for; null: only itself. */
  agentIds: string[] | null;
  name: string | null;
}

// Callers get the public view of a key (KeySummary), never its stored hash.

/** Creates a key and its audit event; the token is in the answer and nowhere else. */
export async function createKey(
  ctx: ServiceContext,
  creator: Principal,
  command: NewKeyCommand,
): Promise<KeySummary & { api_key: string }> {
  const check = checkNewKey(creator, command);
  if (!check.ok) {
    throw check.field ? invalidField(check.field, check.reason) : new ApiError("forbidden", check.reason);
  }
  const generated = await generateApiKey();
  const rows = newKeyRows(
    {
      principalId: check.principalId,
      role: command.role,
      maxLevel: check.maxLevel,
      tenantId: check.tenantId,
      agentIds: check.agentIds,
      name: command.name,
      createdBy: creator.principalId,
      actorKeyId: creator.keyId,
      requestId: ctx.requestId ?? undefined,
    },
    generated,
  );
  const row = await insertKey(ctx.db, rows);
  ctx.log.info("api_key_created", { key_id: row.id, role: row.role, principal_id: row.principalId });
  return { ...toKeySummary(row), api_key: generated.token };
}

export async function searchKeys(
  ctx: ServiceContext,
  filter: KeyFilter,
  page: { limit: number; offset: number },
): Promise<KeySummary[]> {
  return (await listKeys(ctx.db, filter, page)).map(toKeySummary);
}

export async function getKey(ctx: ServiceContext, keyId: string): Promise<KeySummary> {
  const row = await findKey(ctx.db, keyId);
  if (!row) throw new ApiError("not_found", `No API key ${keyId}`);
  return toKeySummary(row);
}

/** Revokes a key (idempotent, audited once); at once on this isolate, within the cache TTL elsewhere. */
export async function revokeKey(ctx: ServiceContext, revoker: Principal, keyId: string): Promise<KeySummary> {
  // A key's level never changes, so checking it before the revocation cannot race.
  const target = await findKey(ctx.db, keyId);
  if (!target) throw new ApiError("not_found", `No API key ${keyId}`);
  const refusal = keyRevocationRefusal(revoker, target);
  if (refusal) throw new ApiError("forbidden", refusal);
  const row = await revokeKeyRow(ctx.db, keyId, {
    principalId: revoker.principalId,
    keyId: revoker.keyId,
    requestId: ctx.requestId,
  });
  if (!row) throw new ApiError("not_found", `No API key ${keyId}`);
  keyCache.delete(keyId);
  ctx.log.info("api_key_revoked", { key_id: keyId, by: revoker.principalId });
  return toKeySummary(row);
}
