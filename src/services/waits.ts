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
import { changesByRoom, roomName } from "../domain/wait-room.ts";
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

/** A wait's hold on its bounds: released once, however the wait ends. */
export interface HeldWait {
  release(): Promise<void>;
}

/**
 * Charges the wait and takes its leases. Throws 429 rate_limited when the key's limiter or a bound
 * refuses; then nothing is held. For a wait that outlives the call that opened it (an events stream);
 * otherwise holdWait.
 */
export async function openWait(ctx: ServiceContext, plan: WaitPlan): Promise<HeldWait> {
  const tokens = waitTokens(plan.requestedSeconds);
  await spendTokens(
    ctx,
    plan.principal.role,
    plan.principal,
    tokens,
    `a ${plan.requestedSeconds} s wait costs ${tokens} token${tokens === 1 ? "" : "s"} besides the call's own`,
  );
  const leases = await acquireLeases(ctx, plan);
  let released: Promise<void> | undefined;
  return {
    release() {
      // Handed to waitUntil too, so a release started as the client leaves still finishes.
      released ??= releaseLeases(ctx, leases);
      ctx.waitUntil(released);
      return released;
    },
  };
}

/** Opens the wait (openWait), runs `wait`, and releases the leases however it ends. */
export async function holdWait<T>(ctx: ServiceContext, plan: WaitPlan, wait: () => Promise<T>): Promise<T> {
  const held = await openWait(ctx, plan);
  try {
    return await wait();
  } finally {
    // Awaited, so the next wait of this key finds the slot free.
    await held.release();
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

// ---------------------------------------------------------------------------------------------------
// Waking: a held wait sleeps in its request's WaitRoom (src/durable/wait-room.ts) and reads the
// database only when it starts, when the room says the request changed, and once per
// WAIT_RECHECK_SECONDS (the safety re-read, which covers a lost notification or an unreachable room),
// plus once at its deadline. Every transition tells the rooms after its commit (notifyWaiters, called
// by services/approval-requests.ts transition, the one path every status change takes).

/** What a waiter watches: a request at the version it last read, until a deadline. */
export interface Watch<Row extends { version: number }> {
  tenantId: string;
  requestId: string;
  /** The version the waiter has seen. */
  version: number;
  /** When the wait ends (ms since the epoch). */
  until: number;
  /** Reads the request afresh (the one database read of each wake-up). */
  read(): Promise<Row>;
  /** Ends the wait early when it aborts (the client went away); ctx.signal when absent. */
  signal?: AbortSignal | undefined;
}

type Woken = "changed" | "quiet" | "aborted" | "room_failed";

/**
 * Resolves with a fresh read of the request once it moved past `watch.version`, or at `watch.until`
 * (read then too, so a wait never answers older than its end); null when the client went away first.
 */
export async function nextChange<Row extends { version: number }>(
  ctx: ServiceContext,
  watch: Watch<Row>,
): Promise<Row | null> {
  const recheckMs = ctx.config.WAIT_RECHECK_SECONDS * 1000;
  const signal = watch.signal ?? ctx.signal;
  let roomFailures = 0;
  for (;;) {
    const span = Math.min(recheckMs, watch.until - Date.now());
    let woken: Woken = "quiet";
    if (span > 0) {
      // After two failures in a row the room sits this period out: the wait degrades to the safety
      // re-read instead of spinning on an unreachable object.
      woken = roomFailures >= 2 ? await sleep(span, signal) : await attach(ctx, watch, span, signal);
      if (woken === "aborted" || signal?.aborted) return null;
      roomFailures = woken === "room_failed" ? roomFailures + 1 : 0;
    }
    const row = await watch.read();
    if (row.version !== watch.version || Date.now() >= watch.until) return row;
    // Woken for a version the database does not show: never trusted, and never a reason to spin.
    if (woken === "changed") roomFailures = 2;
  }
}

async function attach<Row extends { version: number }>(
  ctx: ServiceContext,
  watch: Watch<Row>,
  span: number,
  signal: AbortSignal | undefined,
): Promise<Woken> {
  const rooms = ctx.env.WAIT_ROOM;
  if (!rooms) return sleep(span, signal);
  const name = roomName(watch.tenantId, watch.requestId);
  try {
    const answer = await untilAborted(
      rooms.getByName(name).attach(watch.requestId, watch.version, span),
      signal,
    );
    if (answer === "aborted") return "aborted";
    return answer.changed ? "changed" : "quiet";
  } catch (error) {
    // Evicted, restarted or unreachable: the caller re-reads at once (a change may have landed while
    // the room was away), then attaches again.
    ctx.log.warn("wait_room_unavailable", { operation: "attach", error });
    return "room_failed";
  }
}

/** Resolves "quiet" after `ms`, or "aborted" as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<Woken> {
  return untilAborted(new Promise<"quiet">((resolve) => setTimeout(() => resolve("quiet"), ms)), signal);
}

/** `promise`, or "aborted" as soon as `signal` aborts (the promise is left to settle on its own). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | "aborted"> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.resolve("aborted");
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** The most rooms one transition notifies; beyond, waits learn of it by their safety re-read. */
const MAX_ROOMS_NOTIFIED = 500;
/** Rooms notified at once. */
const NOTIFY_CONCURRENCY = 16;

/**
 * Tells the rooms of the changed requests, after their commit. Not awaited by the caller's answer (a
 * slow room must not slow an approval) but handed to waitUntil; a failed call is retried once, then
 * logged as wait_room_unavailable: those waiters wake at their next safety re-read.
 */
export function notifyWaiters(
  ctx: ServiceContext,
  rows: readonly { id: string; tenantId: string; version: number; status: string }[],
): void {
  const rooms = ctx.env.WAIT_ROOM;
  if (!rooms || rows.length === 0) return;
  const all = [...changesByRoom(rows)];
  if (all.length > MAX_ROOMS_NOTIFIED) {
    ctx.log.warn("wait_room_notify_truncated", { rooms: all.length, notified: MAX_ROOMS_NOTIFIED });
  }
  const queue = all.slice(0, MAX_ROOMS_NOTIFIED);
  const notifyOne = async ([name, changes]: (typeof all)[number]) => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await rooms.getByName(name).notify(changes);
        return;
      } catch (error) {
        if (attempt >= 2) {
          ctx.log.error("wait_room_unavailable", { operation: "notify", requests: changes.length, error });
          return;
        }
      }
    }
  };
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await notifyOne(next);
  };
  ctx.waitUntil(Promise.all(Array.from({ length: Math.min(NOTIFY_CONCURRENCY, queue.length) }, worker)));
}
