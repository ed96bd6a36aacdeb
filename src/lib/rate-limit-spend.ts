// Spending tokens of the per-key rate limiters (the Workers Rate Limiting bindings of wrangler.toml):
// the one place a token is spent and a refusal becomes 429 rate_limited with Retry-After. No Hono and
// no env types, so the services and the Node scripts can load it: lib/rate-limit.ts spends one token
// per request with it, and services/waits.ts charges a wait by its length.
//
// The binding is approximate by design and answers only yes or no. When it fails, the call goes
// through: an unreachable limiter must not take the API down with it.
import type { Principal } from "../domain/access.ts";
import { LIMITERS, type Limiter } from "../domain/rate-limits.ts";
import { ApiError } from "./errors.ts";
import type { Logger } from "./log.ts";
import type { MetricsBuffer } from "./metrics.ts";

/** A Workers Rate Limiting binding, structurally (so Node scripts and tests can pass one, or none). */
export interface RateLimitBinding {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

/** The limiter bindings by name, each optional: an env without one is unlimited by it. */
export type RateLimitBindings = {
  [L in Limiter as (typeof LIMITERS)[L]["binding"]]?: RateLimitBinding | undefined;
};

/** What spending needs: the bindings, the RATE_LIMITS switch, a logger and the counters (a ServiceContext has them). */
export interface RateLimitScope {
  env: RateLimitBindings;
  config: { RATE_LIMITS: boolean };
  log: Logger;
  metrics: MetricsBuffer;
}

/**
 * Spends `tokens` tokens of `limiter` for the calling key (the binding takes one per call, so one call
 * each, at once), or throws 429 `rate_limited` with Retry-After when any is refused; `what` names the
 * charge in the message (default: the request itself). Counted as nova_rate_limited_total{limiter}.
 */
export function spendTokens(
  scope: RateLimitScope,
  limiter: Limiter,
  principal: Principal,
  tokens = 1,
  what?: string,
): Promise<void> {
  return spend(scope, limiter, {
    countedAs: principal.keyId,
    tokens,
    refusal: `Too many requests for this API key (${limiter.replace("_", " ")} limit)${what ? `: ${what}` : ""}`,
    logFields: { key_id: principal.keyId, role: principal.role, tokens },
  });
}

/**
 * Spends one token of `limiter` counted as `countedAs` (a client address's bucket, say), refusing with
 * `refusal`. The count key is not logged: a refusal is enough to see a flood.
 */
export function spendTokenAs(
  scope: RateLimitScope,
  limiter: Limiter,
  countedAs: string,
  refusal: string,
  logFields: Record<string, string> = {},
): Promise<void> {
  return spend(scope, limiter, { countedAs, tokens: 1, refusal, logFields });
}

async function spend(
  scope: RateLimitScope,
  limiter: Limiter,
  charge: { countedAs: string; tokens: number; refusal: string; logFields: Record<string, unknown> },
): Promise<void> {
  // RATE_LIMITS=off turns every limiter off (benchmarks, or an operator's emergency lever).
  if (!scope.config.RATE_LIMITS || charge.tokens <= 0) return;
  const { binding, period } = LIMITERS[limiter];
  const rateLimit = scope.env[binding];
  if (!rateLimit) return;
  let allowed: boolean;
  try {
    const outcomes = await Promise.all(
      Array.from({ length: charge.tokens }, () => rateLimit.limit({ key: charge.countedAs })),
    );
    allowed = outcomes.every((outcome) => outcome.success);
  } catch (error) {
    scope.log.error("rate_limit_unavailable", { limiter, error });
    return;
  }
  if (allowed) return;
  scope.log.warn("rate_limited", { limiter, ...charge.logFields });
  scope.metrics.count("nova_rate_limited_total", { limiter });
  throw new ApiError(
    "rate_limited",
    `${charge.refusal}; retry after ${period} seconds`,
    { limiter, retry_after_seconds: period },
    { "Retry-After": String(period) },
  );
}
