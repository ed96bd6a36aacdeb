// Issue 23, finding 2: "one rate-limit token buys 55 seconds of database polling". These tests perform
// the attack (many concurrent long polls with one key: REST ?wait and MCP wait_for_decision) and check
// the two defences: open waits are bounded per API key and per tenant by leases of the WaitGate
// Durable Object (src/durable/wait-gate.ts, taken by src/services/waits.ts), and a wait is charged
// against the key's rate limiter by its length. Each test has a tenant of its own, so its gate starts
// empty; the bounds are made small through the config vars.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { MAX_LEASE_MS } from "../src/domain/wait-gate.ts";
import type { Bindings } from "../src/env.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { callTool, connectMcp } from "./helpers/mcp.ts";
import { approveRequest, fileRequest } from "./helpers/requests.ts";

/** Two open waits per key, three per tenant. */
const BOUNDS: Partial<Bindings> = { OPEN_WAITS_PER_KEY: "2", OPEN_WAITS_PER_TENANT: "3" };
/** The tests' tiny limiter as the agent limiter: 3 tokens per 10 s (vitest.config.ts). */
const tiny = (): Partial<Bindings> => ({
  RATE_LIMIT_AGENT: (env as unknown as { RATE_LIMIT_TINY: RateLimit }).RATE_LIMIT_TINY,
});
/** Time for started waits to be past their first read and holding their lease. */
const SETTLE_MS = 400;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const uniqueTenant = () => `waits-${crypto.randomUUID().slice(0, 8)}`;

/**
 * A tenant of its own, an agent key (confined to that tenant, or to none when `platform`), an
 * approver, and a pending request of the tenant filed by the agent.
 */
async function scene(options: { platform?: boolean } = {}) {
  const tenant = uniqueTenant();
  const agent = await createTestKey("agent", options.platform ? {} : { tenantId: tenant });
  const approver = await createTestKey("approver");
  const id = await fileRequest(agent, { tenant_id: tenant });
  return { tenant, agent, approver, id };
}

function waitOn(
  key: TestKey,
  id: string,
  seconds: number,
  overrides: Partial<Bindings> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return call(
    `/api/v1/policy/requests/${id}?wait=${seconds}`,
    { headers: key.headers, ...(signal && { signal }) },
    { ...BOUNDS, ...overrides },
  );
}

/**
 * The limiters count in windows aligned to the wall clock (10 s for the tiny one): a test that counts
 * tokens starts early in a window, so a refill at the window's end cannot pass for a missing charge.
 */
async function freshWindow(periodSeconds: number, needMs: number): Promise<void> {
  const left = periodSeconds * 1000 - (Date.now() % (periodSeconds * 1000));
  if (left < needMs) await sleep(left + 50);
}

async function statusOf(res: Response): Promise<string> {
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { status: string }).status;
}

async function expectRefused(res: Response, limiter: string, limit: number): Promise<void> {
  expect(res.status, await res.clone().text()).toBe(429);
  const retryAfter = Number(res.headers.get("Retry-After"));
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 70).toBe(true);
  const body = (await res.json()) as ErrorEnvelope;
  expect(body.error.code).toBe("rate_limited");
  expect(body.error.details).toEqual({ limiter, limit, retry_after_seconds: retryAfter });
  expect(body.error.message).toContain(String(limit));
}

describe("open waits are bounded per key (REST ?wait)", () => {
  it("refuses the waits of one key beyond its bound with 429 and Retry-After, and frees the slots when the waits end", async () => {
    const { tenant, agent, approver, id } = await scene({ platform: true });

    const held = [waitOn(agent, id, 5), waitOn(agent, id, 5)];
    await sleep(SETTLE_MS);
    const started = Date.now();
    await expectRefused(await waitOn(agent, id, 5), "open_waits_per_key", 2);
    // Refused at once, before any polling.
    expect(Date.now() - started).toBeLessThan(1500);
    // A read that does not wait takes no slot.
    expect(await statusOf(await call(`/api/v1/policy/requests/${id}`, { headers: agent.headers }))).toBe(
      "pending",
    );

    // Decided: both waits answer, and their leases are released.
    await approveRequest(approver, id);
    for (const res of await Promise.all(held)) expect(await statusOf(res)).toBe("approved");

    // Two new waits fit again; they time out undecided and free their slots in turn.
    const second = await fileRequest(agent, { tenant_id: tenant });
    const timedOut = await Promise.all([waitOn(agent, second, 1), waitOn(agent, second, 1)]);
    for (const res of timedOut) expect(await statusOf(res)).toBe("pending");
    const again = await Promise.all([waitOn(agent, second, 1), waitOn(agent, second, 1)]);
    for (const res of again) expect(await statusOf(res)).toBe("pending");
  });

  it("bounds the whole tenant: a second key of the same tenant is refused once the tenant's bound is reached", async () => {
    const tenant = uniqueTenant();
    const first = await createTestKey("agent", { tenantId: tenant });
    const second = await createTestKey("agent", { tenantId: tenant });
    const elsewhere = await createTestKey("agent");
    const approver = await createTestKey("approver");
    const id = await fileRequest(first, { tenant_id: tenant });
    const other = await fileRequest(elsewhere, { tenant_id: uniqueTenant() });

    const held = [waitOn(first, id, 5), waitOn(first, id, 5), waitOn(second, id, 5)];
    await sleep(SETTLE_MS);
    // The second key holds one wait of its two, but the tenant holds three of three.
    await expectRefused(await waitOn(second, id, 5), "open_waits_per_tenant", 3);
    // Another tenant is not affected.
    const unaffected = waitOn(elsewhere, other, 1);

    await approveRequest(approver, id);
    for (const res of await Promise.all(held)) expect(await statusOf(res)).toBe("approved");
    expect(await statusOf(await unaffected)).toBe("pending");
  });

  it("bounds a key that may read every tenant across all of them, not per tenant", async () => {
    const platform = await createTestKey("agent");
    const approver = await createTestKey("approver");
    const ids = [
      await fileRequest(platform, { tenant_id: uniqueTenant() }),
      await fileRequest(platform, { tenant_id: uniqueTenant() }),
      await fileRequest(platform, { tenant_id: uniqueTenant() }),
    ];
    const held = [waitOn(platform, ids[0] as string, 5), waitOn(platform, ids[1] as string, 5)];
    await sleep(SETTLE_MS);
    await expectRefused(await waitOn(platform, ids[2] as string, 5), "open_waits_per_key", 2);
    for (const id of ids) await approveRequest(approver, id);
    for (const res of await Promise.all(held)) expect(await statusOf(res)).toBe("approved");
  });

  it("releases the lease of a wait whose client went away", async () => {
    const { agent, approver, id } = await scene();

    const gone = new AbortController();
    const abandoned = waitOn(agent, id, 30, {}, gone.signal);
    const kept = waitOn(agent, id, 30);
    await sleep(SETTLE_MS);
    await expectRefused(await waitOn(agent, id, 30), "open_waits_per_key", 2);

    const started = Date.now();
    gone.abort();
    await abandoned;
    // The wait stopped when its client left, long before its 30 s.
    expect(Date.now() - started).toBeLessThan(3000);
    const replacement = waitOn(agent, id, 30);
    await sleep(SETTLE_MS);
    await approveRequest(approver, id);
    expect(await statusOf(await kept)).toBe("approved");
    expect(await statusOf(await replacement)).toBe("approved");
  });
});

describe("open waits are bounded per key (MCP wait_for_decision)", () => {
  it("answers the waits beyond the bound with a rate_limited tool error naming the limit", async () => {
    const { agent: agentKey, approver, id } = await scene();
    const client = await connectMcp(agentKey.token, BOUNDS);
    try {
      const held = [
        callTool(client, "wait_for_decision", { request_id: id, wait_seconds: 5 }),
        callTool(client, "wait_for_decision", { request_id: id, wait_seconds: 5 }),
      ];
      await sleep(SETTLE_MS);
      const refused = await callTool(client, "wait_for_decision", { request_id: id, wait_seconds: 5 });
      expect(refused.isError).toBe(true);
      expect(refused.code).toBe("rate_limited");
      expect(refused.text).toMatch(/^rate_limited: /);
      const details = (refused.structured as { error: { details: Record<string, unknown> } }).error.details;
      expect(details).toMatchObject({ limiter: "open_waits_per_key", limit: 2 });
      expect(details.retry_after_seconds).toBeGreaterThanOrEqual(1);

      await approveRequest(approver, id);
      for (const answer of await Promise.all(held)) {
        expect(answer.isError).toBe(false);
        expect(answer.text).toMatch(/^APPROVED/);
      }
      // The slots are free again.
      const later = await callTool(client, "wait_for_decision", { request_id: id, wait_seconds: 5 });
      expect(later.isError).toBe(false);
    } finally {
      await client.close();
    }
  });
});

describe("leases expire on their own", () => {
  it("frees the slot of a lease its isolate never released once the lease expires", async () => {
    const { tenant, agent, approver, id } = await scene();
    // Two leases taken by isolates that then crashed: never released, expiring in a second.
    const gate = env.WAIT_GATE.getByName(`tenant:${tenant}`);
    for (let i = 0; i < 2; i++) {
      const lease = await gate.acquire({
        keyId: agent.keyId,
        perKey: 2,
        perGate: 3,
        waitMs: 500,
        ttlMs: 1000,
      });
      expect(lease.granted).toBe(true);
    }
    await expectRefused(await waitOn(agent, id, 5), "open_waits_per_key", 2);
    await sleep(1100);
    const after = waitOn(agent, id, 5);
    await sleep(SETTLE_MS);
    await approveRequest(approver, id);
    expect(await statusOf(await after)).toBe("approved");
  });
});

describe("a wait is charged by its length", () => {
  it("spends one extra token per 5 s of wait up front, so a long wait costs what it holds", async () => {
    const agent = await createTestKey("agent");
    const approver = await createTestKey("approver");
    const id = await fileRequest(agent, { tenant_id: uniqueTenant() });
    await freshWindow(10, 6000);

    // A 10 s wait: one token for the call, two for the wait. The tiny limiter holds three.
    const waiting = waitOn(agent, id, 10, tiny());
    await sleep(SETTLE_MS);
    await approveRequest(approver, id);
    expect(await statusOf(await waiting)).toBe("approved");
    const next = await call(`/api/v1/policy/requests/${id}`, { headers: agent.headers }, tiny());
    expect(next.status).toBe(429);
    expect(((await next.json()) as ErrorEnvelope).error.details).toMatchObject({ limiter: "agent" });
  });

  it("refuses at once a wait that costs more than the key has left", async () => {
    const agent = await createTestKey("agent");
    const id = await fileRequest(agent, { tenant_id: uniqueTenant() });
    await freshWindow(10, 3000);
    const started = Date.now();
    // One token for the call, three for a 15 s wait: over the tiny limiter's three.
    const res = await waitOn(agent, id, 15, tiny());
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res.status).toBe(429);
    expect(res.headers.get("Retry-After")).toBe("10");
    const body = (await res.json()) as ErrorEnvelope;
    expect(body.error.code).toBe("rate_limited");
    expect(body.error.details).toMatchObject({ limiter: "agent", retry_after_seconds: 10 });
    expect(body.error.message).toMatch(/15 s wait/);
  });

  it("charges nothing extra when there is nothing to wait for", async () => {
    const agent = await createTestKey("agent");
    const approver = await createTestKey("approver");
    const id = await fileRequest(agent, { tenant_id: uniqueTenant() });
    await approveRequest(approver, id);
    await freshWindow(10, 4000);
    for (let i = 0; i < 3; i++) expect(await statusOf(await waitOn(agent, id, 30, tiny()))).toBe("approved");
  });
});

describe("without the gate", () => {
  it("still waits where the binding is absent (Node scripts, some tests)", async () => {
    const agent = await createTestKey("agent");
    const approver = await createTestKey("approver");
    const id = await fileRequest(agent, { tenant_id: uniqueTenant() });
    const absent: Partial<Bindings> = { WAIT_GATE: undefined as unknown as Bindings["WAIT_GATE"] };
    const held = [1, 2, 3].map(() => waitOn(agent, id, 5, absent));
    await sleep(SETTLE_MS);
    await approveRequest(approver, id);
    for (const res of await Promise.all(held)) expect(await statusOf(res)).toBe("approved");
  });

  it("fails open when the gate fails, and logs wait_gate_unavailable", async () => {
    const agent = await createTestKey("agent");
    const id = await fileRequest(agent, { tenant_id: uniqueTenant() });
    const broken = {
      getByName: () => ({
        acquire: () => Promise.reject(new Error("Durable Object is overloaded")),
        release: () => Promise.reject(new Error("Durable Object is overloaded")),
      }),
    } as unknown as Bindings["WAIT_GATE"];
    const logs = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const res = await waitOn(agent, id, 1, { WAIT_GATE: broken });
    const lines = [...logs.mock.calls, ...errors.mock.calls].map((args) => String(args[0]));
    logs.mockRestore();
    errors.mockRestore();
    expect(await statusOf(res)).toBe("pending");
    expect(lines.some((line) => line.includes("wait_gate_unavailable"))).toBe(true);
  });
});

describe("the gate's storage", () => {
  it("sweeps expired leases by itself (an alarm), so an idle gate keeps nothing", async () => {
    const gate = env.WAIT_GATE.getByName(`tenant:${uniqueTenant()}`);
    await gate.acquire({ keyId: "short", perKey: 2, perGate: 3, waitMs: 100, ttlMs: 200 });
    await gate.acquire({ keyId: "long", perKey: 2, perGate: 3, waitMs: 100, ttlMs: 60_000 });
    await sleep(600);
    const state = await runInDurableObject(gate, async (_instance, object) => ({
      keys: object.storage.sql
        .exec<{ key_id: string }>("SELECT key_id FROM leases")
        .toArray()
        .map((row) => row.key_id),
      alarm: await object.storage.getAlarm(),
    }));
    // The short lease is gone without any call since; the alarm now waits for the long one.
    expect(state.keys).toEqual(["long"]);
    expect(state.alarm).toBeGreaterThan(Date.now() + 50_000);
  });

  it("never lets a lease outlive the longest wait plus its margin, whatever it is asked", async () => {
    const gate = env.WAIT_GATE.getByName(`tenant:${uniqueTenant()}`);
    const before = Date.now();
    await gate.acquire({ keyId: "k", perKey: 2, perGate: 3, waitMs: 1e12, ttlMs: 1e12 });
    const expires = await runInDurableObject(
      gate,
      (_instance, object) =>
        object.storage.sql.exec<{ expires_at: number }>("SELECT expires_at FROM leases").one().expires_at,
    );
    expect(expires - before).toBeLessThanOrEqual(MAX_LEASE_MS + 1000);
  });
});
