// POST /api/v1/policy/usage (src/routes/usage.ts): reported spend lands in the ledger once per
// usage_id, whatever the retries and races, and counts against the tenant's budgets at evaluation.
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../src/db/client.ts";
import { spendLedger } from "../src/db/schema.ts";
import { testEnv } from "./helpers/database.ts";
import { type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const USAGE = "/api/v1/policy/usage";
const EVAL = "/api/v1/policy/eval";
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

interface UsageEntry {
  usage_id: string;
  tenant_id: string;
  agent_id: string | null;
  skill_id: string | null;
  amount_cents: number;
  occurred_at: string;
  recorded_at: string;
}

interface EvalResult {
  decision: string;
  simulated_cost_cents: number;
  violations: { type: string; check: string; severity: string }[];
  explanation: { checks: { check: string; outcome: string; detail: string }[] };
}

let agent: TestKey;
let admin: TestKey;
beforeAll(async () => {
  agent = await createTestKey("agent");
  admin = await createTestKey("admin");
});

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;
const newUsageId = () => `u-${crypto.randomUUID()}`;
const minutesFromNow = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

/** The ledger rows a usage_id produced. */
function ledgerRows(usageId: string) {
  return createDb(testEnv())
    .select()
    .from(spendLedger)
    .where(and(eq(spendLedger.source, "usage"), eq(spendLedger.reference, usageId)));
}

function ledgerOfTenant(tenantId: string) {
  return createDb(testEnv()).select().from(spendLedger).where(eq(spendLedger.tenantId, tenantId));
}

async function report(body: Record<string, unknown>, key: TestKey = agent) {
  const res = await postJson(USAGE, body, key.headers);
  return { status: res.status, body: (await res.json()) as UsageEntry & ErrorEnvelope };
}

describe("usage reports: idempotent per usage_id", () => {
  it("records a first report (201) and answers an identical retry with the same entry (200)", async () => {
    const input = {
      usage_id: newUsageId(),
      tenant_id: newTenant(),
      agent_id: "agent-7",
      skill_id: "email.send",
      amount_cents: 125,
      occurred_at: minutesFromNow(-2),
    };
    const first = await report(input);
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ ...input, recorded_at: expect.stringMatching(ISO) });

    const retry = await report(input);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);

    const rows = await ledgerRows(input.usage_id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      tenantId: input.tenant_id,
      agentId: "agent-7",
      skillId: "email.send",
      amountCents: 125,
      source: "usage",
    });
  });

  it("defaults occurred_at to now and agent/skill to null", async () => {
    const input = { usage_id: newUsageId(), tenant_id: newTenant(), amount_cents: 0 };
    const before = Date.now();
    const first = await report(input);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ ...input, agent_id: null, skill_id: null });
    const occurred = new Date(first.body.occurred_at).getTime();
    expect(occurred).toBeGreaterThanOrEqual(before - 1000);
    expect(occurred).toBeLessThanOrEqual(Date.now() + 1000);
    // A retry without occurred_at is the same report, not a new one "now".
    const retry = await report(input);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
  });

  it("answers 409 for the same usage_id with different values, and keeps the first entry", async () => {
    const input = {
      usage_id: newUsageId(),
      tenant_id: newTenant(),
      agent_id: "agent-7",
      amount_cents: 300,
      occurred_at: minutesFromNow(-10),
    };
    expect((await report(input)).status).toBe(201);
    const changes = [
      { amount_cents: 301 },
      { agent_id: "agent-8" },
      { agent_id: null },
      { skill_id: "email.send" },
      { occurred_at: minutesFromNow(-11) },
    ];
    for (const change of changes) {
      const sent = await report({ ...input, ...change });
      expect(sent.status, JSON.stringify(change)).toBe(409);
      expect(sent.body.error.code).toBe("conflict");
    }
    const rows = await ledgerRows(input.usage_id);
    expect(rows.map((row) => [row.tenantId, row.amountCents])).toEqual([[input.tenant_id, 300]]);
  });

  it("scopes usage_id to the tenant: another tenant may use the same id, and learns nothing", async () => {
    const usageId = newUsageId();
    const first = await report({ usage_id: usageId, tenant_id: newTenant(), amount_cents: 5 });
    const second = await report({ usage_id: usageId, tenant_id: newTenant(), amount_cents: 7 });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect((await ledgerRows(usageId)).map((row) => row.amountCents).sort()).toEqual([5, 7]);
  });

  it("settles 10 concurrent identical reports into one 201, nine 200s and one ledger row", async () => {
    const input = {
      usage_id: newUsageId(),
      tenant_id: newTenant(),
      amount_cents: 42,
      occurred_at: minutesFromNow(-1),
    };
    const results = await Promise.all(Array.from({ length: 10 }, () => report(input)));
    const statuses = results.map((result) => result.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    // Every caller sees the one recorded entry.
    expect(new Set(results.map((result) => JSON.stringify(result.body))).size).toBe(1);
    expect(await ledgerRows(input.usage_id)).toHaveLength(1);
  });
});

describe("usage reports: refused", () => {
  it("refuses occurred_at in the future (beyond clock skew) with 400, recording nothing", async () => {
    const tenant = newTenant();
    const sent = await report({
      usage_id: newUsageId(),
      tenant_id: tenant,
      amount_cents: 5,
      occurred_at: minutesFromNow(60),
    });
    expect(sent.status).toBe(400);
    expect(sent.body.error.code).toBe("validation_failed");
    expect(
      (sent.body.error.details as { issues: { path: string }[] }).issues.map((issue) => issue.path),
    ).toEqual(["occurred_at"]);
    expect(await ledgerOfTenant(tenant)).toEqual([]);
    // A clock a minute ahead is tolerated.
    expect(
      (
        await report({
          usage_id: newUsageId(),
          tenant_id: tenant,
          amount_cents: 5,
          occurred_at: minutesFromNow(1),
        })
      ).status,
    ).toBe(201);
  });

  it("lets a tenant-scoped key report only for its own tenant (403 otherwise)", async () => {
    const own = newTenant();
    const other = newTenant();
    const scoped = await createTestKey("agent", { tenantId: own });
    const refused = await report({ usage_id: newUsageId(), tenant_id: other, amount_cents: 1 }, scoped);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("forbidden");
    expect(await ledgerOfTenant(other)).toEqual([]);
    expect((await report({ usage_id: newUsageId(), tenant_id: own, amount_cents: 1 }, scoped)).status).toBe(
      201,
    );
  });

  it("accepts agent and admin keys and refuses approver keys", async () => {
    const tenant = newTenant();
    const approver = await createTestKey("approver");
    const refused = await report({ usage_id: newUsageId(), tenant_id: tenant, amount_cents: 1 }, approver);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("forbidden");
    expect((await report({ usage_id: newUsageId(), tenant_id: tenant, amount_cents: 1 }, admin)).status).toBe(
      201,
    );
    expect(await ledgerOfTenant(tenant)).toHaveLength(1);
  });

  it("rejects malformed bodies with 400 and the offending field", async () => {
    const tenant = newTenant();
    const valid = { usage_id: newUsageId(), tenant_id: tenant, amount_cents: 10 };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...valid, usage_id: undefined }, "usage_id"],
      [{ ...valid, usage_id: "has space" }, "usage_id"],
      [{ ...valid, tenant_id: undefined }, "tenant_id"],
      [{ ...valid, amount_cents: -1 }, "amount_cents"],
      [{ ...valid, amount_cents: 1.5 }, "amount_cents"],
      [{ ...valid, amount_cents: "10" }, "amount_cents"],
      [{ ...valid, occurred_at: "yesterday" }, "occurred_at"],
      [{ ...valid, occurred_at: "2026-01-01T00:00:00" }, "occurred_at"],
      [{ ...valid, source: "approval" }, ""],
    ];
    for (const [body, path] of cases) {
      const sent = await report(body);
      expect(sent.status, JSON.stringify(body)).toBe(400);
      expect(sent.body.error.code).toBe("validation_failed");
      const issues = (sent.body.error.details as { issues: { path: string }[] }).issues;
      expect(
        issues.map((issue) => issue.path),
        JSON.stringify(body),
      ).toContain(path);
    }
    expect(await ledgerOfTenant(tenant)).toEqual([]);
  });
});

describe("usage counts against budgets", () => {
  it("reported spend moves a hard daily budget from pass to deny", async () => {
    const tenant = newTenant();
    const budget = await postJson(
      "/api/v1/admin/policies/budgets",
      { tenant_id: tenant, period: "day", limit_cents: 500, enforcement: "hard" },
      admin.headers,
    );
    expect(budget.status).toBe(201);
    const tenantAgent = await createTestKey("agent", { tenantId: tenant });
    const evaluate = async () => {
      const res = await postJson(
        EVAL,
        { skill_id: "some.skill", tenant_id: tenant, payload: {} },
        tenantAgent.headers,
      );
      expect(res.status).toBe(200);
      const result = (await res.json()) as EvalResult;
      // some.skill has no cost model: it costs the default unknown-skill cost of 10 cents.
      expect(result.simulated_cost_cents).toBe(10);
      return { result, budget: result.explanation.checks.filter((check) => check.check === "budget") };
    };

    // Spend that must not count against today's budget: another tenant's, and this tenant's from 40 days ago.
    expect(
      (await report({ usage_id: newUsageId(), tenant_id: newTenant(), amount_cents: 10_000 })).status,
    ).toBe(201);
    expect(
      (
        await report(
          {
            usage_id: newUsageId(),
            tenant_id: tenant,
            amount_cents: 10_000,
            occurred_at: minutesFromNow(-40 * 24 * 60),
          },
          tenantAgent,
        )
      ).status,
    ).toBe(201);

    expect(
      (await report({ usage_id: newUsageId(), tenant_id: tenant, amount_cents: 450 }, tenantAgent)).status,
    ).toBe(201);
    const under = await evaluate();
    // 450 spent + 10 = 460 <= 500.
    expect(under.budget).toEqual([expect.objectContaining({ outcome: "pass" })]);
    expect(under.budget[0]?.detail).toMatch(/450 spent \+ 10 = 460 of 500/);
    expect(under.result.decision).not.toBe("deny");
    expect(under.result.violations.filter((violation) => violation.type === "budget_exceeded")).toEqual([]);

    expect(
      (await report({ usage_id: newUsageId(), tenant_id: tenant, amount_cents: 45 }, tenantAgent)).status,
    ).toBe(201);
    const over = await evaluate();
    // 495 spent + 10 = 505 > 500, and the budget is hard.
    expect(over.budget).toEqual([expect.objectContaining({ outcome: "deny" })]);
    expect(over.budget[0]?.detail).toMatch(/495 spent \+ 10 = 505 of 500/);
    expect(over.result.decision).toBe("deny");
    expect(over.result.violations).toContainEqual(
      expect.objectContaining({ type: "budget_exceeded", check: "budget", severity: "hard" }),
    );
  });
});
