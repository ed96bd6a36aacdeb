// Authentication (who is calling: an API key) and authorization (may they: a permission per route).
//
// Every route under /api requires `Authorization: Bearer <key>`. A key is `pak_<id>_<secret>`,
// resolved by services/keys.ts (one database round trip, then cached in the isolate); the
// ADMIN_API_KEY secret acts as a global admin key. Keys never reach logs, errors or responses;
// failures are logged with a reason and counted.
import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { type Permission, type Principal, rolesWith } from "../domain/access.ts";
import { digestsEqual, sha256Hex } from "../domain/encoding.ts";
import type { AppEnv } from "../env.ts";
import { resolveApiKey } from "../services/keys.ts";
import { ApiError } from "./errors.ts";
import { errorResponse } from "./openapi.ts";
import { assertCan } from "./permissions.ts";
import { rateLimitOperation } from "./rate-limit.ts";

/** ADMIN_API_KEY values shorter than this are ignored: a guessable admin key is worse than none. */
export const MIN_ADMIN_KEY_LENGTH = 32;

export const BOOTSTRAP_ADMIN: Principal = {
  keyId: "bootstrap",
  principalId: "bootstrap-admin",
  role: "admin",
  maxLevel: 5,
  tenantId: null,
  agentIds: null,
};

type AuthFailure = "missing" | "malformed" | "unknown" | "revoked";

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
    const resolved = await resolveApiKey(c.var.services, token);
    if ("refused" in resolved) refuse(c, resolved.refused, resolved.keyId);
    const principal = resolved.principal;
    c.set("principal", principal);
    c.var.log.debug("authenticated", {
      key_id: principal.keyId,
      principal_id: principal.principalId,
      role: principal.role,
    });
    return next();
  };
}

/**
 * Every 403 `forbidden` (role, tenant, agent binding, approval identity, self-approval, admin level
 * limits) is logged with the key id, never the key, and counted as nova_auth_failures_total
 * {reason="forbidden"}, whichever layer refused it.
 */
export function recordRefusal(c: Context<AppEnv>, error: ApiError): void {
  if (error.code !== "forbidden") return;
  const principal = c.var.principal as Principal | undefined;
  c.var.log?.warn("auth_forbidden", {
    key_id: principal?.keyId,
    role: principal?.role,
    method: c.req.method,
    path: c.req.path,
    reason: error.message,
  });
  c.var.metrics?.count("nova_auth_failures_total", { reason: "forbidden" });
}

/** The route's permission check, then its own rate limit if it has one (key management does). */
export function requirePermission(permission: Permission): MiddlewareHandler<AppEnv> {
  const operationLimit = rateLimitOperation(permission);
  return async (c, next) => {
    assertCan(c.var.principal, permission);
    return operationLimit(c, next);
  };
}

/** Errors a route raises beyond those every protected route can (400/401/403/413/415/429/503); a 403 here replaces the generic description. */
export type RouteErrors = Partial<Record<403 | 404 | 409, string>>;

/**
 * An API route that needs a key holding `permission`. The permission check runs before any input
 * validation, and the OpenAPI document states the scheme, the roles (`x-roles`, which the security
 * test matrix reads) and every error response in the one envelope: the ones every protected route
 * can give, declared here once, plus the route's own `errors`.
 */
export function protectedRoute<const R extends RouteConfig>(
  permission: Permission,
  config: R,
  errors: RouteErrors = {},
) {
  const takesInput = Boolean(
    config.request?.body || config.request?.query || config.request?.params || config.request?.headers,
  );
  const responses: Record<string, ReturnType<typeof errorResponse>> = {};
  if (takesInput) responses[400] = errorResponse("Invalid input: the details name each field");
  responses[401] = errorResponse("Missing, malformed, unknown or revoked API key");
  responses[403] = errorResponse("The key's role, tenant or level does not allow this");
  if (config.request?.body) {
    responses[413] = errorResponse("Body or payload too large");
    responses[415] = errorResponse("The body is not JSON");
  }
  responses[429] = errorResponse("Too many requests for this key; retry after Retry-After seconds");
  responses[503] = errorResponse("The database is unavailable; retry after Retry-After seconds");
  for (const [status, description] of Object.entries(errors)) responses[status] = errorResponse(description);
  return createRoute({
    ...config,
    security: [{ ApiKey: [] }],
    "x-roles": rolesWith(permission),
    middleware: [requirePermission(permission)] as const,
    responses: { ...config.responses, ...responses },
  });
}
