// The rules of the wait gate: how many waits (REST ?wait, MCP wait_for_decision) may be open at once
// per API key and per tenant, which gates a wait takes a lease in, how long a lease lives, and what a
// wait costs in rate-limit tokens. Pure: src/durable/wait-gate.ts keeps the leases, and
// src/services/waits.ts takes and releases them around each wait.

/** Longest a wait may hold (REST ?wait, MCP wait_seconds), under the Workers request limits. */
export const MAX_WAIT_SECONDS = 55;

/** Default bounds (OPEN_WAITS_PER_KEY, OPEN_WAITS_PER_TENANT in src/config.ts). */
export const DEFAULT_OPEN_WAITS_PER_KEY = 20;
export const DEFAULT_OPEN_WAITS_PER_TENANT = 200;
/** The largest bound the config accepts: far beyond any sane value, small enough to count quickly. */
export const MAX_OPEN_WAITS = 10_000;

/**
 * A lease outlives its wait's maximum by this much, then expires on its own: one more poll round
 * (a read and an expiry, each within the 5 s database timeout) and the release itself. So a lease
 * whose isolate crashed, or whose release was lost, frees its slot within this margin.
 */
export const LEASE_MARGIN_MS = 15_000;
/** No lease lives longer than the longest wait (55 s) plus the margin, whatever a caller asks. */
export const MAX_LEASE_MS = MAX_WAIT_SECONDS * 1000 + LEASE_MARGIN_MS;
/** A refusal's Retry-After stays within these seconds (a slot may free sooner: a wait's request is decided). */
const MIN_RETRY_AFTER_SECONDS = 1;
const MAX_RETRY_AFTER_SECONDS = 10;

/** One rate-limit token, on top of the call's own, per this many seconds of wait (rounded up). */
export const WAIT_SECONDS_PER_TOKEN = 5;

/** The limits a refusal names (details.limiter), counted as nova_rate_limited_total{limiter}. */
export const WAIT_LIMITERS = ["open_waits_per_key", "open_waits_per_tenant"] as const;
export type WaitLimiter = (typeof WAIT_LIMITERS)[number];

/** What a wait asks of one gate. */
export interface LeaseRequest {
  /** The API key's id ("bootstrap" for ADMIN_API_KEY). */
  keyId: string;
  /** At most this many open leases of this key in this gate. */
  perKey: number;
  /** At most this many open leases in this gate altogether; null in a key's own gate. */
  perGate: number | null;
  /** How long the wait may last: a refusal's Retry-After is read from the open leases' ends. */
  waitMs: number;
  /** When the lease expires unless released: the wait's maximum plus LEASE_MARGIN_MS. */
  ttlMs: number;
}

export type LeaseAnswer =
  | { granted: true; leaseId: string }
  | { granted: false; limiter: WaitLimiter; limit: number; retryAfterSeconds: number };

/** What a gate knows when it decides: the open leases of the key, all of them, and when each ends. */
export interface GateState {
  keyLeases: number;
  allLeases: number;
  /** The earliest end (ms since epoch) among the leases of the key, and among all leases. */
  keyEarliestEnd: number | null;
  allEarliestEnd: number | null;
}

/** The refusal of a lease, or null to grant it. Retry-After: when the first lease in the way ends. */
export function leaseRefusal(
  request: Pick<LeaseRequest, "perKey" | "perGate">,
  state: GateState,
  now: number,
): Extract<LeaseAnswer, { granted: false }> | null {
  const refuse = (limiter: WaitLimiter, limit: number, earliestEnd: number | null) => ({
    granted: false as const,
    limiter,
    limit,
    retryAfterSeconds: retryAfterSeconds(earliestEnd, now),
  });
  if (state.keyLeases >= request.perKey)
    return refuse("open_waits_per_key", request.perKey, state.keyEarliestEnd);
  if (request.perGate !== null && state.allLeases >= request.perGate)
    return refuse("open_waits_per_tenant", request.perGate, state.allEarliestEnd);
  return null;
}

function retryAfterSeconds(earliestEnd: number | null, now: number): number {
  const seconds = earliestEnd === null ? MIN_RETRY_AFTER_SECONDS : Math.ceil((earliestEnd - now) / 1000);
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(MIN_RETRY_AFTER_SECONDS, seconds));
}

/** A lease's lifetime as the gate stores it: within 1 ms .. MAX_LEASE_MS whatever was asked. */
export function clampLeaseMs(ms: number): number {
  return Number.isFinite(ms) ? Math.min(MAX_LEASE_MS, Math.max(1, Math.round(ms))) : MAX_LEASE_MS;
}

/**
 * The gates a wait takes a lease in, by Durable Object name. Every wait takes one in its request's
 * tenant gate, which bounds the tenant and the key within it. A key confined to one tenant waits only
 * there, so that gate bounds the key everywhere; a key that may read every tenant also takes one in a
 * gate of its own, so that spreading its waits over many tenants does not multiply its bound.
 */
export function waitGates(
  principal: { keyId: string; tenantId: string | null },
  requestTenant: string,
): { name: string; perTenant: boolean }[] {
  const gates = [{ name: `tenant:${requestTenant}`, perTenant: true }];
  if (principal.tenantId === null) gates.push({ name: `key:${principal.keyId}`, perTenant: false });
  return gates;
}

/** The rate-limit tokens a wait of `seconds` costs on top of the call's own: one per 5 s, rounded up. */
export function waitTokens(seconds: number): number {
  return seconds > 0 ? Math.ceil(seconds / WAIT_SECONDS_PER_TOKEN) : 0;
}
