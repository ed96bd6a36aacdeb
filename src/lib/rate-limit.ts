// Per-key rate limits on Cloudflare's Workers Rate Limiting binding ([[ratelimits]] in wrangler.toml).
//
// Every authenticated request spends one token from its role's limiter, counted per API key (the
// key id, "bootstrap" for ADMIN_API_KEY), so one busy or hostile key cannot starve the others. Key
// management (the routes needing keys:manage) also spends from a strict limiter of its own, and console
// sign-in from one per client address and one per key.
// Limits are counted after authentication: a caller who knows a key id but not its secret gets 401s
// and cannot spend that key's budget.
//
// The binding is approximate by design (counts are per Cloudflare location and eventually
// consistent) and answers only yes or no. When it fails, the request goes through: an unreachable
// limiter must not take the API down with it.
import type { MiddlewareHandler } from "hono";
import type { Permission, Principal } from "../domain/access.ts";
import { addressBucket, LIMITERS, type Limiter } from "../domain/rate-limits.ts";
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
  await spendToken(c, limiter, principal.keyId, {
    refusal: `Too many requests for this API key (${limiter.replace("_", " ")} limit)`,
    log: { key_id: principal.keyId, role: principal.role },
  });
}

/**
 * Console sign-in: one token of the client address's limiter for every attempt (before the key is
 * read), and one of the key's once its secret matched (so a wrong secret spends nothing of the key's).
 */
export async function spendSignInLimit(
  c: { env: Bindings; var: AppEnv["Variables"] },
  by: { address: string } | { principal: Principal },
): Promise<void> {
  if ("address" in by) {
    // Counted by address (IPv6 by its /64), never logged: the refusal is enough to see a flood.
    await spendToken(c, "console_sign_in_address", addressBucket(by.address), {
      refusal: "Too many sign-ins from this address",
      log: {},
    });
  } else {
    await spendToken(c, "console_sign_in_key", by.principal.keyId, {
      refusal: "Too many sign-ins with this API key",
      log: { key_id: by.principal.keyId, role: by.principal.role },
    });
  }
}

async function spendToken(
  c: { env: Bindings; var: AppEnv["Variables"] },
  limiter: Limiter,
  countedAs: string,
  said: { refusal: string; log: Record<string, string> },
): Promise<void> {
  // RATE_LIMITS=off turns every limiter off (benchmarks, or an operator's emergency lever).
  if (!c.var.services.config.RATE_LIMITS) return;
  const { binding, period } = LIMITERS[limiter];
  // Every LIMITERS binding is declared in wrangler.toml, hence typed on Env; an env without it is unlimited.
  const rateLimit: RateLimit | undefined = c.env[binding];
  if (!rateLimit) return;
  let allowed: boolean;
  try {
    allowed = (await rateLimit.limit({ key: countedAs })).success;
  } catch (error) {
    c.var.log.error("rate_limit_unavailable", { limiter, error });
    return;
  }
  if (allowed) return;
  c.var.log.warn("rate_limited", { limiter, ...said.log });
  c.var.metrics.count("nova_rate_limited_total", { limiter });
  throw new ApiError(
    "rate_limited",
    `${said.refusal}; retry after ${period} seconds`,
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
