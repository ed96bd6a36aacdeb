// Per-key rate limits on Cloudflare's Workers Rate Limiting binding ([[ratelimits]] in wrangler.toml).
//
// Every authenticated request spends one token from its role's limiter, counted per API key (the
// key id, "bootstrap" for ADMIN_API_KEY), so one busy or hostile key cannot starve the others. Key
// management (the routes needing keys:manage) also spends from a strict limiter of its own.
// Limits are counted after authentication: a caller who knows a key id but not its secret gets 401s
// and cannot spend that key's budget.
//
// The spending itself (and what happens when the limiter fails) is src/lib/rate-limit-spend.ts, with
// no Hono and no env types, so the services use it too: a wait (?wait, wait_for_decision) spends
// tokens by its length (src/services/waits.ts).
import type { MiddlewareHandler } from "hono";
import type { Permission, Principal } from "../domain/access.ts";
import type { Limiter } from "../domain/rate-limits.ts";
import type { AppEnv, AuthenticatedEnv, Bindings } from "../env.ts";
import { requirePrincipal } from "./permissions.ts";
import { spendTokens } from "./rate-limit-spend.ts";

/**
 * Spends one token of `limiter` for the calling key, or throws 429 `rate_limited` with Retry-After.
 * Counted as nova_rate_limited_total{limiter} when refused.
 */
export async function spendRateLimit(
  c: { env: Bindings; var: AppEnv["Variables"] },
  limiter: Limiter,
  principal: Principal,
): Promise<void> {
  // Every LIMITERS binding is declared in wrangler.toml, hence typed on Env; an env without it is unlimited.
  const { config } = c.var.services;
  await spendTokens({ env: c.env, config, log: c.var.log, metrics: c.var.metrics }, limiter, principal);
}

/** Operations with a limiter of their own, spent after the role's: key management is strict. */
const OPERATION_LIMITERS: Partial<Record<Permission, Limiter>> = { "keys:manage": "key_management" };

/** A route's own limiter (requirePermission spends it after the permission check), if it has one. */
export function rateLimitOperation(permission: Permission): MiddlewareHandler<AuthenticatedEnv> {
  const limiter = OPERATION_LIMITERS[permission];
  return async function rateLimitOperation(c, next) {
    if (limiter) await spendRateLimit(c, limiter, requirePrincipal(c));
    await next();
  };
}

/** The role limiter, after authentication (c.var.principal is set). */
export function rateLimitByRole(): MiddlewareHandler<AppEnv> {
  return async function rateLimitByRole(c, next) {
    const principal = requirePrincipal(c);
    await spendRateLimit(c, principal.role, principal);
    await next();
  };
}
