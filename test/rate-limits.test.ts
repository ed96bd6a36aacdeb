// Per-key rate limits (src/lib/rate-limit.ts) on the real Workers Rate Limiting binding, as Miniflare
// runs it. The role limiters are generous (1000 agent requests per 10 s), so most tests swap in
// RATE_LIMIT_TINY (3 per 10 s, declared for the tests in vitest.config.ts) as the agent limiter; key
// management is strict enough to test with the limit wrangler.toml deploys.
import { env } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import type { Bindings } from "../src/env.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";

const EVAL = "/api/v1/policy/eval";
/** The tests' tiny limiter: 3 requests per 10 seconds. */
const TINY_LIMIT = 3;
const tiny = () => ({ RATE_LIMIT_AGENT: (env as unknown as { RATE_LIMIT_TINY: RateLimit }).RATE_LIMIT_TINY });

function evaluate(key: { headers: { Authorization: string } }, overrides: Partial<Bindings> = {}) {
  return call(
    EVAL,
    {
      method: "POST",
      headers: { ...key.headers, "Content-Type": "application/json" },
      body: JSON.stringify({
        skill_id: "search.web",
        tenant_id: "rate-limits",
        agent_id: "bot-1",
        payload: {},
      }),
    },
    overrides,
  );
}

describe("per-key rate limits", () => {
  it("refuses a key over its role's limit with 429 rate_limited and Retry-After, in the envelope", async () => {
    const agent = await createTestKey("agent");
    for (let i = 0; i < TINY_LIMIT; i++) expect((await evaluate(agent, tiny())).status).toBe(200);

    const refused = await evaluate(agent, tiny());
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toBe("10");
    const body = (await refused.json()) as ErrorEnvelope;
    expect(body.error.code).toBe("rate_limited");
    expect(body.error.message).toMatch(/retry after 10 seconds/);
    expect(body.error.details).toEqual({ limiter: "agent", retry_after_seconds: 10 });
    expect(body.error.request_id).toBeTruthy();
  });

  it("counts per key: one busy key does not starve another key of the same role", async () => {
    const busy = await createTestKey("agent");
    const quiet = await createTestKey("agent");
    const statuses: number[] = [];
    for (let i = 0; i < TINY_LIMIT + 3; i++) statuses.push((await evaluate(busy, tiny())).status);
    expect(statuses.filter((status) => status === 429)).toHaveLength(3);
    expect((await evaluate(quiet, tiny())).status).toBe(200);
  });

  it("cannot be spent by a caller who knows a key id but not its secret", async () => {
    const victim = await createTestKey("agent");
    const forged = { headers: { Authorization: `Bearer pak_${victim.keyId}_${"x".repeat(43)}` } };
    for (let i = 0; i < TINY_LIMIT * 3; i++) expect((await evaluate(forged, tiny())).status).toBe(401);
    for (let i = 0; i < TINY_LIMIT; i++) expect((await evaluate(victim, tiny())).status).toBe(200);
  });

  it("counts refusals as nova_rate_limited_total{limiter}", async () => {
    const agent = await createTestKey("agent");
    const dataset = recordingDataset();
    for (let i = 0; i < TINY_LIMIT + 2; i++) await evaluate(agent, { ...tiny(), METRICS: dataset });
    expect(dataset.totals()["nova_rate_limited_total{limiter=agent}"]).toBe(2);
  });

  it("keeps key management strict (30 a minute per key) while the same key's other calls go on", async () => {
    const keyAdmin = await createTestKey("admin");
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) {
      const res = await call("/api/v1/admin/keys", { headers: keyAdmin.headers });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get("Retry-After")).toBe("60");
        expect(((await res.json()) as ErrorEnvelope).error.details).toEqual({
          limiter: "key_management",
          retry_after_seconds: 60,
        });
      }
    }
    expect(statuses.slice(0, 30).every((status) => status === 200)).toBe(true);
    expect(statuses[30]).toBe(429);
    // Creating a key is key management too; reading policies is not.
    const create = await call("/api/v1/admin/keys", {
      method: "POST",
      headers: { ...keyAdmin.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ principal_id: "bot-9", role: "agent" }),
    });
    expect(create.status).toBe(429);
    expect((await call("/api/v1/admin/stats", { headers: keyAdmin.headers })).status).toBe(200);
  });

  it("lifts every limiter when RATE_LIMITS is off", async () => {
    const agent = await createTestKey("agent");
    for (let i = 0; i < TINY_LIMIT + 3; i++) {
      expect((await evaluate(agent, { ...tiny(), RATE_LIMITS: "off" })).status).toBe(200);
    }
  });

  it("lets requests through, and logs, when the limiter itself fails", async () => {
    const agent = await createTestKey("agent");
    const broken = { limit: () => Promise.reject(new Error("limiter unreachable")) } as unknown as RateLimit;
    const logs = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const res = await evaluate(agent, { RATE_LIMIT_AGENT: broken });
    const lines = logs.mock.calls.map((args) => String(args[0]));
    logs.mockRestore();
    expect(res.status).toBe(200);
    expect(lines.some((line) => line.includes("rate_limit_unavailable"))).toBe(true);
  });

  it("does not limit the public health check", async () => {
    for (let i = 0; i < 5; i++) expect((await call("/health/live", {}, tiny())).status).toBe(200);
  });
});
