// Authorization per route: each API route declares the permission it needs (protectedRoute), and that
// declaration is both the check (requirePermission, before any input validation) and what the OpenAPI
// document publishes (scheme, roles as `x-roles` for the security test matrix, error responses).
import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { type Permission, rolesWith } from "../domain/access.ts";
import type { AuthenticatedEnv } from "../env.ts";
import { errorResponse } from "../lib/openapi.ts";
import { assertCan, requirePrincipal } from "../lib/permissions.ts";
import { rateLimitOperation } from "../lib/rate-limit.ts";

/**
 * The route's permission check, then its own rate limit if it has one (key management does). Typed
 * as the authenticated env: the route's handler reads c.var.principal as set.
 */
export function requirePermission(permission: Permission): MiddlewareHandler<AuthenticatedEnv> {
  const operationLimit = rateLimitOperation(permission);
  return async function requirePermission(c, next) {
    assertCan(requirePrincipal(c), permission);
    return operationLimit(c, next);
  };
}

/**
 * Errors a route raises beyond those every protected route can (400/401/403/413/415/429/503); a 403 or
 * 503 here replaces the generic description (a route that calls another service names its 503 too).
 */
export type RouteErrors = Partial<Record<403 | 404 | 409 | 503, string>>;

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
