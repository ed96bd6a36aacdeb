// Holding a wait (GET .../requests/{id}?wait=N, MCP wait_for_decision, and any later way to wait):
// what it costs and how many may be open at once. Every channel waits through holdWait, so one set of
// rules applies:
//
// 1. The wait is charged against the key's rate limiter by its length, up front: one token per 5 s
//    (src/domain/wait-gate.ts waitTokens) on top of the call's own, so one token no longer buys 55 s.
// 2. It takes a lease in each of its gates (the WaitGate Durable Object, one per tenant, one per key
//    that may read every tenant): beyond OPEN_WAITS_PER_KEY or OPEN_WAITS_PER_TENANT the wait is
//    refused with 429 rate_limited, Retry-After and details naming the limit, before any polling.
// 3. The leases are released when the wait ends: decided, timed out, failed, or its client gone (the
//    request's signal); a lease whose release never came expires on its own.
//
// Without the WAIT_GATE binding (scripts, some tests) waits are not gated. A gate that fails (an error,
// not a refusal) fails open: the wait goes ahead without that lease and wait_gate_unavailable is
// logged as an error. The charge in 1. still bounds what a key can hold then, and a wait is what
// agents do most, so a platform fault must not stop them; a refusal is never ignored.

import type { Principal } from "../domain/access.ts";
import { LEASE_MARGIN_MS, type WaitLimiter, waitGates, waitTokens } from "../domain/wait-gate.ts";
import { ApiError } from "../lib/errors.ts";
import { spendTokens } from "../lib/rate-limit-spend.ts";
import type { ServiceContext, WaitGateStub } from "./context.ts";

/** A wait about to be held: whose, in which tenant, for how long at most. */
export interface WaitPlan {
  principal: Principal;
  /** The tenant of what is waited on (the request's). */
  tenantId: string;
  /** What the caller asked for, in seconds: the charge. */
  requestedSeconds: number;
  /** How long the wait can last at most, in ms (the requested time, or less when the request expires first). */
  maxMs: number;
}

interface Lease {
  gate: WaitGateStub;
  name: string;
  leaseId: string;
}

/**
 * Charges the wait, takes its leases, runs `wait` and releases the leases however it ends. Throws 429
 * rate_limited when the key's limiter or a bound refuses; then nothing is held.
 */
export async function holdWait<T>(ctx: ServiceContext, plan: WaitPlan, wait: () => Promise<T>): Promise<T> {
  const tokens = waitTokens(plan.requestedSeconds);
  await spendTokens(
    ctx,
    plan.principal.role,
    plan.principal,
    tokens,
    `a ${plan.requestedSeconds} s wait costs ${tokens} token${tokens === 1 ? "" : "s"} besides the call's own`,
  );
  const leases = await acquireLeases(ctx, plan);
  try {
    return await wait();
  } finally {
    // Awaited, so the next wait of this key finds the slot free; also handed to waitUntil, so a
    // release started as the client leaves still finishes.
    const released = releaseLeases(ctx, leases);
    ctx.waitUntil(released);
    await released;
  }
}

async function acquireLeases(ctx: ServiceContext, plan: WaitPlan): Promise<Lease[]> {
  const namespace = ctx.env.WAIT_GATE;
  if (!namespace) return [];
  const { OPEN_WAITS_PER_KEY: perKey, OPEN_WAITS_PER_TENANT: perTenant } = ctx.config;
  const leases: Lease[] = [];
  try {
    for (const { name, perTenant: bindsTenant } of waitGates(plan.principal, plan.tenantId)) {
      let gate: WaitGateStub;
      let answer: Awaited<ReturnType<WaitGateStub["acquire"]>>;
      try {
        gate = namespace.getByName(name);
        answer = await gate.acquire({
          keyId: plan.principal.keyId,
          perKey,
          perGate: bindsTenant ? perTenant : null,
          waitMs: plan.maxMs,
          ttlMs: plan.maxMs + LEASE_MARGIN_MS,
        });
      } catch (error) {
        // Fail open (see the top of the file): this gate cannot bound the wait, the others still do.
        ctx.log.error("wait_gate_unavailable", { gate: gateKind(name), operation: "acquire", error });
        continue;
      }
      if (!answer.granted) throw refusal(ctx, plan.principal, answer);
      leases.push({ gate, name, leaseId: answer.leaseId });
    }
    return leases;
  } catch (error) {
    await releaseLeases(ctx, leases);
    throw error;
  }
}

async function releaseLeases(ctx: ServiceContext, leases: readonly Lease[]): Promise<void> {
  await Promise.all(
    leases.map(async ({ gate, name, leaseId }) => {
      try {
        await gate.release(leaseId);
      } catch (error) {
        // The lease expires on its own within its margin; until then it holds a slot.
        ctx.log.error("wait_gate_unavailable", { gate: gateKind(name), operation: "release", error });
      }
    }),
  );
}

/** "tenant" or "key": the gate's kind, for logs (its name holds a tenant or key id). */
function gateKind(name: string): string {
  return name.slice(0, name.indexOf(":"));
}

function refusal(
  ctx: ServiceContext,
  principal: Principal,
  answer: { limiter: WaitLimiter; limit: number; retryAfterSeconds: number },
): ApiError {
  const { limiter, limit, retryAfterSeconds } = answer;
  ctx.log.warn("rate_limited", { limiter, limit, key_id: principal.keyId, role: principal.role });
  ctx.metrics.count("nova_rate_limited_total", { limiter });
  const whose = limiter === "open_waits_per_key" ? "this API key" : "this tenant";
  return new ApiError(
    "rate_limited",
    `Too many open waits for ${whose} (at most ${limit} at once); retry after ${retryAfterSeconds} seconds, or read the request without waiting`,
    { limiter, limit, retry_after_seconds: retryAfterSeconds },
    { "Retry-After": String(retryAfterSeconds) },
  );
}
