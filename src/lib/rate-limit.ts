// Per-key rate limits on Cloudflare's Workers Rate Limiting binding ([[ratelimits]] in wrangler.toml).
//
// Every authenticated request spends one token from its role's limiter, counted per API key (the
// key id, "bootstrap" for ADMIN_API_KEY), so one busy or hostile key cannot starve the others. Key
// management (the routes needing keys:manage) also spends from a strict limiter of its own, and console
// sign-in from one per client address and one per key.
// Limits are counted after authentication: a caller who knows a key id but not its secret gets 401s
// and cannot spend that key's budget.
//
// The spending itself (and what happens when the limiter fails) is src/lib/rate-limit-spend.ts, with
// no Hono and no env types, so the services use it too: a wait (?wait, wait_for_decision) spends
// tokens by its length (src/services/waits.ts).
import type { MiddlewareHandler } from "hono";
import type { Permission, Principal } from "../domain/access.ts";
import { addressBucket, type Limiter } from "../domain/rate-limits.ts";
import type { AppEnv, AuthenticatedEnv, Bindings } from "../env.ts";
import { requirePrincipal } from "./permissions.ts";
import { spendTokenAs, spendTokens } from "./rate-limit-spend.ts";

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
  await spendTokens(scopeOf(c), limiter, principal);
}

function scopeOf(c: { env: Bindings; var: AppEnv["Variables"] }) {
  return { env: c.env, config: c.var.services.config, log: c.var.log, metrics: c.var.metrics };
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
    await spendTokenAs(
      scopeOf(c),
      "console_sign_in_address",
      addressBucket(by.address),
      "Too many sign-ins from this address",
    );
  } else {
    await spendTokenAs(
      scopeOf(c),
      "console_sign_in_key",
      by.principal.keyId,
      "Too many sign-ins with this API key",
      { key_id: by.principal.keyId, role: by.principal.role },
    );
  }
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
