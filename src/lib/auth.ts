// Authentication (who is calling: an API key) and authorization (may they: a permission per route).
//
// Every route under /api requires `Authorization: Bearer <key>`. A key is `pak_<id>_<secret>` looked
// up by id (one database round trip, then cached in the isolate for KEY_CACHE_TTL_MS) and checked by
// comparing SHA-256 digests in constant time; the ADMIN_API_KEY secret acts as a global admin key.
// Keys never reach logs, errors or responses; failures are logged with a reason and counted.
import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { createDb } from "../db/client.ts";
import { type ApiKeyRow, apiKeys } from "../db/schema.ts";
import { can, type Permission, type Principal, rolesWith } from "../domain/access.ts";
import { digestsEqual, parseApiKey, secretMatches, sha256Hex } from "../domain/api-keys.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "./errors.ts";
import { errorResponse } from "./openapi.ts";

/** How long a key lookup is reused in one isolate: also the longest a revocation takes to reach every isolate. */
export const KEY_CACHE_TTL_MS = 15_000;
const KEY_CACHE_MAX_ENTRIES = 10_000;
/** last_used_at is refreshed at most this often per key. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** ADMIN_API_KEY values shorter than this are ignored: a guessable admin key is worse than none. */
export const MIN_ADMIN_KEY_LENGTH = 32;

export const BOOTSTRAP_ADMIN: Principal = {
  keyId: "bootstrap",
  principalId: "bootstrap-admin",
  role: "admin",
  maxLevel: 5,
  tenantId: null,
};

type AuthFailure = "missing" | "malformed" | "unknown" | "revoked";

const keyCache = new Map<string, { row: ApiKeyRow | undefined; expiresAt: number }>();

/** Drops a key from this isolate's cache (after revoking it here). */
export function forgetKey(keyId: string): void {
  keyCache.delete(keyId);
}

async function lookupKey(c: Context<AppEnv>, keyId: string): Promise<ApiKeyRow | undefined> {
  const cached = keyCache.get(keyId);
  if (cached && cached.expiresAt > Date.now()) return cached.row;
  const [row] = await createDb(c.env).select().from(apiKeys).where(eq(apiKeys.id, keyId));
  if (keyCache.size >= KEY_CACHE_MAX_ENTRIES) keyCache.clear();
  keyCache.set(keyId, { row, expiresAt: Date.now() + KEY_CACHE_TTL_MS });
  return row;
}

function touchLastUsed(c: Context<AppEnv>, row: ApiKeyRow): void {
  if (row.lastUsedAt && Date.now() - row.lastUsedAt.getTime() < LAST_USED_RESOLUTION_MS) return;
  row.lastUsedAt = new Date();
  const update = createDb(c.env)
    .update(apiKeys)
    .set({ lastUsedAt: new Date() })
    .where(eq(apiKeys.id, row.id))
    .then(
      () => undefined,
      (error: unknown) => c.var.log.warn("api_key_last_used_update_failed", { key_id: row.id, error }),
    );
  c.executionCtx.waitUntil(update);
}

function refuse(c: Context<AppEnv>, reason: AuthFailure, keyId?: string): never {
  c.var.log.warn("auth_failed", { reason, key_id: keyId, path: c.req.path });
  c.var.metrics.count("nova_auth_failures_total", { reason });
  const messages: Record<AuthFailure, string> = {
    missing: "Send an API key: Authorization: Bearer <key>",
    malformed: "Authorization header must be 'Bearer <key>' with a well-formed key",
    unknown: "Invalid API key",
    revoked: "This API key has been revoked",
  };
  const challenge =
    reason === "missing" ? 'Bearer realm="policy-api"' : 'Bearer realm="policy-api", error="invalid_token"';
  throw new ApiError("unauthorized", messages[reason], undefined, { "WWW-Authenticate": challenge });
}

async function isBootstrapAdmin(c: Context<AppEnv>, token: string): Promise<boolean> {
  const adminKey = c.env.ADMIN_API_KEY;
  if (!adminKey) return false;
  if (adminKey.length < MIN_ADMIN_KEY_LENGTH) {
    c.var.log.error("admin_api_key_ignored", { reason: `shorter than ${MIN_ADMIN_KEY_LENGTH} characters` });
    return false;
  }
  return digestsEqual(await sha256Hex(token), await sha256Hex(adminKey));
}

/** Resolves the caller from `Authorization: Bearer <key>` and sets c.var.principal, or answers 401. */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("Authorization");
    if (!header) refuse(c, "missing");
    const match = /^Bearer +(\S+) *$/i.exec(header);
    const token = match?.[1];
    if (!token) refuse(c, "malformed");

    if (await isBootstrapAdmin(c, token)) {
      c.set("principal", BOOTSTRAP_ADMIN);
      return next();
    }
    const parsed = parseApiKey(token);
    if (!parsed) refuse(c, "malformed");
    const row = await lookupKey(c, parsed.keyId);
    if (!row || !(await secretMatches(parsed.secret, row.secretHash))) refuse(c, "unknown", parsed.keyId);
    if (row.revokedAt) refuse(c, "revoked", parsed.keyId);

    touchLastUsed(c, row);
    c.set("principal", {
      keyId: row.id,
      principalId: row.principalId,
      role: row.role,
      maxLevel: row.maxLevel,
      tenantId: row.tenantId,
    });
    c.var.log.debug("authenticated", { key_id: row.id, principal_id: row.principalId, role: row.role });
    return next();
  };
}

export function requirePermission(permission: Permission): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.var.principal;
    if (!can(principal, permission)) {
      c.var.log.warn("auth_forbidden", {
        reason: "role",
        role: principal.role,
        permission,
        key_id: principal.keyId,
      });
      c.var.metrics.count("nova_auth_failures_total", { reason: "forbidden" });
      throw new ApiError("forbidden", `The ${principal.role} role may not ${permission.replace(":", " ")}`);
    }
    return next();
  };
}

/**
 * An API route that needs a key holding `permission`. The permission check runs before any input
 * validation, and the OpenAPI document states the scheme and the roles (`x-roles`), which the
 * security test matrix reads.
 */
export function protectedRoute<const R extends RouteConfig>(permission: Permission, config: R) {
  return createRoute({
    ...config,
    security: [{ ApiKey: [] }],
    "x-roles": rolesWith(permission),
    middleware: [requirePermission(permission)] as const,
    responses: {
      ...config.responses,
      401: errorResponse("Missing, malformed, unknown or revoked API key"),
      403: errorResponse("The key's role, tenant or level does not allow this"),
    },
  });
}
