// Per-key rate limits on Cloudflare's Workers Rate Limiting binding ([[ratelimits]] in wrangler.toml).
//
// Every authenticated request spends one token from its role's limiter, counted per API key (the
// key id, "bootstrap" for ADMIN_API_KEY), so one busy or hostile key cannot starve the others. Key
// management (the routes needing keys:manage) also spends from a strict limiter of its own.
// Limits are counted after authentication: a caller who knows a key id but not its secret gets 401s
// and cannot spend that key's budget.
//
// The binding is approximate by design (counts are per Cloudflare location and eventually
// consistent) and answers only yes or no. When it fails, the request goes through: an unreachable
// limiter must not take the API down with it.
import type { MiddlewareHandler } from "hono";
import type { Permission, Principal } from "../domain/access.ts";
import { LIMITERS, type Limiter } from "../domain/rate-limits.ts";
import type { AppEnv, AuthenticatedEnv, Bindings } from "../env.ts";
import { ApiError } from "./errors.ts";
import { requirePrincipal } from "./permissions.ts";

/**
 * Spends one token of `limiter` for the calling key, or throws 429 `rate_limited` with Retry-After.
 * Counted as nova_rate_limited_total{limiter} when refused.
 */
export async function spendRateLimit(
  c: { env: Bindings; var: AppEnv["Variables"] },
  limiter: Limiter,
  principal: Principal,
): Promise<void> {
  // RATE_LIMITS=off turns every limiter off (benchmarks, or an operator's emergency lever).
  if (!c.var.services.config.RATE_LIMITS) return;
  const { binding, period } = LIMITERS[limiter];
  // Every LIMITERS binding is declared in wrangler.toml, hence typed on Env; an env without it is unlimited.
  const rateLimit: RateLimit | undefined = c.env[binding];
  if (!rateLimit) return;
  let allowed: boolean;
  try {
    allowed = (await rateLimit.limit({ key: principal.keyId })).success;
  } catch (error) {
    c.var.log.error("rate_limit_unavailable", { limiter, error });
    return;
  }
  if (allowed) return;
  c.var.log.warn("rate_limited", { limiter, key_id: principal.keyId, role: principal.role });
  c.var.metrics.count("nova_rate_limited_total", { limiter });
  throw new ApiError(
    "rate_limited",
    `Too many requests for this API key (${limiter.replace("_", " ")} limit); retry after ${period} seconds`,
    { limiter, retry_after_seconds: period },
    { "Retry-After": String(period) },
  );
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
