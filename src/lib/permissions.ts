// Authorization at the edge of every entry point: the one "may this role do that" check (assertCan),
// the typed way to get the authenticated caller (requirePrincipal), and the one place a 403 is logged
// and counted (recordRefusal). The rules themselves are pure, in domain/access.ts.
import { can, PERMISSION_ACTIONS, type Permission, type Principal } from "../domain/access.ts";
import { ApiError } from "./errors.ts";
import type { Logger } from "./log.ts";
import type { MetricsBuffer } from "./metrics.ts";

/**
 * What recordRefusal reads of a request's context: any Hono context of the app has it (log and
 * metrics may be unset when the refusal comes before the request context). Structural, so the
 * services and Node scripts importing assertCan need no Hono or worker types.
 */
export interface RefusalContext {
  req: { method: string; path: string };
  var: { log?: Logger; metrics?: MetricsBuffer; principal?: Principal | undefined };
}

/** Throws 403 `forbidden` unless the principal's role holds `permission`. */
export function assertCan(principal: Pick<Principal, "role">, permission: Permission): void {
  if (!can(principal, permission)) {
    // Logged and counted where every refusal is (recordRefusal, from the app's error handler or MCP).
    throw new ApiError(
      "forbidden",
      `The ${principal.role} role may not ${PERMISSION_ACTIONS[permission]} (${permission})`,
    );
  }
}

/**
 * The caller set by authentication (an API key, or a console session). Routes built with
 * protectedRoute get it typed on c.var already; anything else (a middleware, a helper taking the plain
 * AppEnv context, the console's pages) asks here, and a caller that never passed authentication is
 * refused rather than trusted.
 */
export function requirePrincipal(c: { var: { principal?: Principal | undefined } }): Principal {
  const principal = c.var.principal;
  if (!principal) throw new ApiError("unauthorized", "Send an API key: Authorization: Bearer <key>");
  return principal;
}

/**
 * Every 403 `forbidden` (role, tenant, agent binding, approval identity, self-approval, admin level
 * limits) is logged with the key id, never the key, and counted as nova_auth_failures_total
 * {reason="forbidden"}, whichever layer refused it.
 */
export function recordRefusal(c: RefusalContext, error: ApiError): void {
  if (error.code !== "forbidden") return;
  const principal = c.var.principal;
  c.var.log?.warn("auth_forbidden", {
    key_id: principal?.keyId,
    role: principal?.role,
    method: c.req.method,
    path: c.req.path,
    reason: error.message,
  });
  c.var.metrics?.count("nova_auth_failures_total", { reason: "forbidden" });
}
