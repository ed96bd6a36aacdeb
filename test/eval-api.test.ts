// POST /api/v1/policy/eval end to end: stored policy, the runbook's emergency switch, budget periods,
// what-if overrides, version pinning, the decision log, metrics, tenant scope and bad input.
import { beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_PAYLOAD_BYTES } from "../src/domain/limits.ts";
import { testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";

interface EvalResult {
  decision: string;
  reasons: string[];
  simulated_cost_cents: number;
  policy_version: number;
  approval_level_required: number;
  approval_level_name: string;
  violations: { type: string; check: string; severity: string }[];
  decision_id: string;
  timestamp: string;
  policy_type: string;
  overrides_used: boolean;
  explanation: {
    tokens: number;
    checks: { check: string; outcome: string; rule: { id: number | null } | null }[];
  };
}

const EVAL = "/api/v1/policy/eval";
let admin: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
});

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;

async function evaluate(body: Record<string, unknown>, key: TestKey = admin, env = {}) {
  const res = await call(
    EVAL,
    {
      method: "POST",
      headers: { ...key.headers, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    },
    env,
  );
  return { status: res.status, body: (await res.json()) as EvalResult & ErrorEnvelope };
}

async function adminPost(path: string, body: unknown) {
  const res = await postJson(`/api/v1/admin/policies/${path}`, body, admin.headers);
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: number; policy_version: number };
}

describe("evaluation against stored policy", () => {
  it("allows a call an auto_approve policy covers, within its ceilings", async () => {
    const tenant = newTenant();
    await adminPost("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "auto_approve",
    });
    const { status, body } = await evaluate({
      skill_id: "search.web",
      tenant_id: tenant,
      payload: { max_tokens: 500 },
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      decision: "allow",
      simulated_cost_cents: 10,
      approval_level_required: 1,
      approval_level_name: "auto_approve",
      violations: [],
      policy_type: "cost",
      overrides_used: false,
    });
    expect(body.decision_id).toMatch(/^dec_[0-9a-f]{20}$/);
    expect(body.explanation.tokens).toBe(500);
    expect(body.explanation.checks.map((check) => check.check)).toEqual([
      "capability",
      "budget",
      "cost_ceiling",
      "token_ceiling",
      "approval_level",
    ]);
  });

  it("denies a call a capability rule forbids, and names the rule", async () => {
    const tenant = newTenant();
    const rule = await adminPost("capability-rules", {
      tenant_id: tenant,
      skill_pattern: "shell.*",
      effect: "deny",
    });
    const { body } = await evaluate({ skill_id: "shell.exec", tenant_id: tenant, payload: {} });
    expect(body.decision).toBe("deny");
    // The global default (agent_approve) adds a soft violation; the hard one decides.
    expect(body.violations).toContainEqual(
      expect.objectContaining({ type: "capability_denied", severity: "hard" }),
    );
    expect(body.explanation.checks[0]).toMatchObject({
      check: "capability",
      outcome: "deny",
      rule: { id: rule.id },
    });
    expect(body.reasons.join(" ")).toContain("shell.exec");
  });

  it("requires approval at the skill cost model's price above the ceiling", async () => {
    const tenant = newTenant();
    await adminPost("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "pre_approved",
    });
    await adminPost("skill-costs", {
      skill_id: `gpu.train.${tenant}`,
      base_cents: 50,
      cents_per_1k_tokens: 20,
    });
    const { body } = await evaluate({
      skill_id: `gpu.train.${tenant}`,
      tenant_id: tenant,
      payload: { tokens: 4000 },
    });
    expect(body).toMatchObject({
      decision: "requires_approval",
      simulated_cost_cents: 130,
      approval_level_required: 3,
    });
  });
});

describe("the runbook's emergency switch", () => {
  it("makes every call require manual approval once policy_approval_levels is set to manual_approve", async () => {
    const tenant = newTenant();
    await adminPost("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "auto_approve",
    });
    expect((await evaluate({ skill_id: "search.web", tenant_id: tenant, payload: {} })).body.decision).toBe(
      "allow",
    );
    const before = (await evaluate({ skill_id: "search.web", tenant_id: tenant, payload: {} })).body
      .policy_version;

    await testSql().query("UPDATE policy_approval_levels SET approval_level = 'manual_approve';");

    for (const policy_type of ["cost", "capability", "resource", "rate_limit"]) {
      for (const tenant_id of [tenant, newTenant()]) {
        const { body } = await evaluate({ skill_id: "search.web", tenant_id, policy_type, payload: {} });
        expect(body, `${policy_type} ${tenant_id}`).toMatchObject({
          decision: "requires_approval",
          approval_level_required: 4,
          approval_level_name: "manual_approve",
        });
        expect(body.policy_version).toBeGreaterThan(before);
      }
    }
    // The SQL change is audited like any other, by the database user that ran it.
    const audit =
      (await testSql()`SELECT actor FROM audit_events WHERE action = 'policy_approval_levels.update'`) as {
        actor: string;
      }[];
    expect(audit.length).toBeGreaterThanOrEqual(5);
    expect(audit.every((row) => row.actor.startsWith("sql:"))).toBe(true);
  });
});

describe("budget periods", () => {
  it("counts this UTC day's and this month's spend, not earlier spend", async () => {
    const tenant = newTenant();
    const agent = await createTestKey("agent", { tenantId: tenant });
    await adminPost("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "auto_approve",
    });
    await adminPost("budgets", { tenant_id: tenant, period: "day", limit_cents: 100 });
    await adminPost("budgets", { tenant_id: tenant, period: "month", limit_cents: 300 });
    const ledger = (cents: number, at: string, ref: string) =>
      testSql().query(
        `INSERT INTO spend_ledger (tenant_id, amount_cents, source, reference, occurred_at) VALUES ($1, $2, 'usage', $3, ${at})`,
        [tenant, cents, `${tenant}-${ref}`],
      );
    const DAY = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";
    const MONTH = "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";
    // Just before the month began: counts for neither period.
    await ledger(10_000, `${MONTH} - interval '1 second'`, "last-month");
    const evalTenant = () => evaluate({ skill_id: "search.web", tenant_id: tenant, payload: {} }, agent);
    expect((await evalTenant()).body.decision).toBe("allow");

    // Exactly at the start of today: counts for the day (and the month). 90 + 10 (this call) = 100.
    await ledger(90, DAY, "today-start");
    expect((await evalTenant()).body.decision).toBe("allow");
    await ledger(1, `${DAY} + interval '1 hour'`, "today-later");
    const overDay = (await evalTenant()).body;
    expect(overDay.decision).toBe("deny");
    expect(overDay.reasons.join(" ")).toContain("daily budget");
  });

  it("applies the month budget to spend earlier this month but before today", async () => {
    const tenant = newTenant();
    await adminPost("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "auto_approve",
    });
    await adminPost("budgets", { tenant_id: tenant, period: "month", limit_cents: 300, enforcement: "soft" });
    await testSql().query(
      `INSERT INTO spend_ledger (tenant_id, amount_cents, source, reference, occurred_at)
       VALUES ($1, 295, 'usage', $2, date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`,
      [tenant, `${tenant}-early`],
    );
    const { body } = await evaluate({ skill_id: "search.web", tenant_id: tenant, payload: {} });
    expect(body.decision).toBe("requires_approval");
    expect(body.violations).toEqual([expect.objectContaining({ type: "budget_exceeded", severity: "soft" })]);
  });
});

describe("what-if overrides", () => {
  it("changes the decision without changing stored policy or its version", async () => {
    const tenant = newTenant();
    await adminPost("capability-rules", { tenant_id: tenant, skill_pattern: "email.*", effect: "deny" });
    const stored = (await evaluate({ skill_id: "email.send", tenant_id: tenant, payload: {} })).body;
    expect(stored.decision).toBe("deny");

    const proposed = (
      await evaluate({
        skill_id: "email.send",
        tenant_id: tenant,
        payload: {},
        policy_overrides: {
          capability_rules: [{ tenant_id: tenant, skill_pattern: "email.send", effect: "allow" }],
          approval_levels: [{ policy_type: "cost", approval_level: "auto_approve" }],
        },
      })
    ).body;
    expect(proposed).toMatchObject({
      decision: "allow",
      overrides_used: true,
      policy_version: stored.policy_version,
    });
    expect(proposed.explanation.checks[0]?.rule).toMatchObject({ id: null, skill_pattern: "email.send" });

    const again = (await evaluate({ skill_id: "email.send", tenant_id: tenant, payload: {} })).body;
    expect(again).toMatchObject({
      decision: "deny",
      policy_version: stored.policy_version,
      overrides_used: false,
    });
  });

  it("is for admins only, and validates proposed rules like stored ones", async () => {
    const agent = await createTestKey("agent");
    const denied = await evaluate(
      { skill_id: "a.b", tenant_id: "acme", payload: {}, policy_overrides: { budgets: [] } },
      agent,
    );
    expect(denied.status).toBe(403);
    const invalid = await evaluate({
      skill_id: "a.b",
      tenant_id: "acme",
      payload: {},
      policy_overrides: { approval_levels: [{ policy_type: "cost", approval_level: "supreme" }] },
    });
    expect(invalid.status).toBe(400);
  });
});

describe("policy version pinning", () => {
  it("answers 409 policy_version_mismatch when the caller's version is not current", async () => {
    const current = (await evaluate({ skill_id: "a.b", tenant_id: "acme", payload: {} })).body.policy_version;
    expect(
      (await evaluate({ skill_id: "a.b", tenant_id: "acme", payload: {}, policy_version: current })).status,
    ).toBe(200);
    expect(
      (await evaluate({ skill_id: "a.b", tenant_id: "acme", payload: {}, policy_version: String(current) }))
        .status,
    ).toBe(200);
    await adminPost("skill-costs", { skill_id: `bump.${crypto.randomUUID().slice(0, 6)}`, base_cents: 1 });
    const stale = await evaluate({
      skill_id: "a.b",
      tenant_id: "acme",
      payload: {},
      policy_version: current,
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({
      code: "policy_version_mismatch",
      details: { current_version: current + 1 },
    });
  });
});

describe("decision log", () => {
  it("keeps every decision, readable by id and listable with filters", async () => {
    const tenant = newTenant();
    const agent = await createTestKey("agent", { tenantId: tenant });
    await adminPost("capability-rules", { tenant_id: tenant, skill_pattern: "shell.*", effect: "deny" });
    const ids: string[] = [];
    for (const skill of ["shell.exec", "search.web", "shell.exec"]) {
      ids.push(
        (await evaluate({ skill_id: skill, tenant_id: tenant, agent_id: "bot-1", payload: {} }, agent)).body
          .decision_id,
      );
    }
    const one = (await (
      await call(`/api/v1/policy/decisions/${ids[0]}`, { headers: agent.headers })
    ).json()) as Record<string, unknown>;
    expect(one).toMatchObject({
      decision_id: ids[0],
      decision: "deny",
      tenant_id: tenant,
      agent_id: "bot-1",
      skill_id: "shell.exec",
      principal_id: agent.principalId,
      overrides_used: false,
    });
    const list = async (query: string) =>
      (
        (await (await call(`/api/v1/policy/decisions?${query}`, { headers: admin.headers })).json()) as {
          decision_id: string;
        }[]
      ).map((row) => row.decision_id);
    expect(await list(`tenant_id=${tenant}`)).toEqual([...ids].reverse());
    expect(await list(`tenant_id=${tenant}&decision=deny`)).toEqual([ids[2], ids[0]]);
    expect(await list(`tenant_id=${tenant}&skill_id=search.web`)).toEqual([ids[1]]);
    expect(await list(`tenant_id=${tenant}&since=2999-01-01T00:00:00Z`)).toEqual([]);
  });

  it("hides other tenants' decisions from tenant-scoped keys", async () => {
    const mine = await createTestKey("agent", { tenantId: newTenant() });
    const theirs = (await evaluate({ skill_id: "a.b", tenant_id: newTenant(), payload: {} })).body
      .decision_id;
    expect((await call(`/api/v1/policy/decisions/${theirs}`, { headers: mine.headers })).status).toBe(404);
    expect((await call("/api/v1/policy/decisions?tenant_id=other", { headers: mine.headers })).status).toBe(
      403,
    );
    expect(
      (await call(`/api/v1/policy/decisions/dec_${"f".repeat(20)}`, { headers: admin.headers })).status,
    ).toBe(404);
  });

  it("still answers when the log cannot be written, and logs and counts the failure", async () => {
    await testSql().query(
      "ALTER TABLE policy_decisions ADD CONSTRAINT reject_probe CHECK (tenant_id <> 'log-fails')",
    );
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const metrics = recordingDataset();
    try {
      const { status, body } = await evaluate(
        { skill_id: "a.b", tenant_id: "log-fails", payload: {} },
        admin,
        {
          METRICS: metrics,
        },
      );
      expect(status).toBe(200);
      expect(body.decision).toBeDefined();
    } finally {
      spy.mockRestore();
      await testSql().query("ALTER TABLE policy_decisions DROP CONSTRAINT reject_probe");
    }
    expect(lines.some((line) => line.includes('"msg":"decision_log_write_failed"'))).toBe(true);
    expect(metrics.totals()["nova_decision_log_failures_total{}"]).toBe(1);
  });
});

describe("metrics", () => {
  it("counts decisions by outcome and policy type, capability violations and budget rejections", async () => {
    const tenant = newTenant();
    await adminPost("capability-rules", { tenant_id: tenant, skill_pattern: "shell.*", effect: "deny" });
    await adminPost("budgets", { tenant_id: tenant, period: "day", limit_cents: 0 });
    const metrics = recordingDataset();
    await evaluate({ skill_id: "shell.exec", tenant_id: tenant, payload: {} }, admin, { METRICS: metrics });
    await evaluate({ skill_id: "search.web", tenant_id: tenant, payload: {} }, admin, { METRICS: metrics });
    await evaluate({ skill_id: "search.web", tenant_id: tenant, payload: {}, simulate_cost: false }, admin, {
      METRICS: metrics,
    });
    expect(metrics.totals()).toEqual({
      "nova_policy_decisions_total{decision=deny,policy_type=capability}": 1,
      "nova_capability_violations_total{}": 1,
      "nova_policy_decisions_total{decision=deny,policy_type=resource}": 1,
      // The denied shell.exec call was over the zero budget too: each hard budget violation counts.
      "nova_resource_budget_rejections_total{}": 2,
      "nova_policy_decisions_total{decision=requires_approval,policy_type=cost}": 1,
    });
  });
});

describe("access and input", () => {
  it("keeps tenant-scoped agents to their tenant and refuses approvers", async () => {
    const scoped = await createTestKey("agent", { tenantId: "acme" });
    expect((await evaluate({ skill_id: "a.b", tenant_id: "globex", payload: {} }, scoped)).status).toBe(403);
    expect((await evaluate({ skill_id: "a.b", tenant_id: "acme", payload: {} }, scoped)).status).toBe(200);
    const approver = await createTestKey("approver");
    expect((await evaluate({ skill_id: "a.b", tenant_id: "acme", payload: {} }, approver)).status).toBe(403);
  });

  it("answers bad input with 400 and the field, never a 500", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ tenant_id: "acme", payload: {} }, "skill_id"],
      [{ skill_id: "a.b", payload: {} }, "tenant_id"],
      [{ skill_id: 7, tenant_id: "acme", payload: {} }, "skill_id"],
      [{ skill_id: "a.b", tenant_id: "acme", payload: [] }, "payload"],
      [{ skill_id: "a.b", tenant_id: "acme", payload: {}, policy_type: "vibes" }, "policy_type"],
      [{ skill_id: "a.b", tenant_id: "acme", payload: {}, simulate_cost: "yes" }, "simulate_cost"],
      [{ skill_id: "a b", tenant_id: "acme", payload: {} }, "skill_id"],
      [{ skill_id: "a.b", tenant_id: "acme", payload: {}, surprise: 1 }, ""],
    ];
    for (const [body, path] of cases) {
      const { status, body: answer } = await evaluate(body);
      expect(status, JSON.stringify(body)).toBe(400);
      const issues = (answer.error.details as { issues: { path: string }[] }).issues.map(
        (issue) => issue.path,
      );
      expect(issues, JSON.stringify(body)).toContain(path);
    }
  });

  it("refuses a payload over its size limit with 413", async () => {
    const { status, body } = await evaluate({
      skill_id: "a.b",
      tenant_id: "acme",
      payload: { blob: "x".repeat(MAX_PAYLOAD_BYTES) },
    });
    expect(status).toBe(413);
    expect(body.error.code).toBe("payload_too_large");
  });
});

describe("logging", () => {
  it("writes one line per evaluation: the request line, carrying the decision", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    let lines: Record<string, unknown>[] = [];
    try {
      const body = { skill_id: "search.web", tenant_id: newTenant(), payload: {} };
      await evaluate(body, admin, { LOG_LEVEL: "info" });
      lines = log.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
    } finally {
      log.mockRestore();
    }
    expect(lines.map((line) => line.msg)).toEqual(["request"]);
    expect(lines[0]).toMatchObject({
      route: "/api/v1/policy/eval",
      status: 200,
      decision: "requires_approval",
      decision_skill_id: "search.web",
      decision_policy_type: "cost",
      decision_tenant_id: expect.stringMatching(/^t-/),
    });
  });
});

describe("the per-isolate policy cache", () => {
  it("sees a policy change made by raw SQL, and spend reported since, on the very next evaluation", async () => {
    const tenant = newTenant();
    const body = { skill_id: "shell.exec", tenant_id: tenant, payload: {} };
    expect((await evaluate(body)).body.decision).toBe("requires_approval");
    // Warm now; a rule written past the API still bumps the policy-set version (trigger).
    await testSql().query(
      "INSERT INTO capability_rules (tenant_id, skill_pattern, effect) VALUES ($1, 'shell.*', 'deny')",
      [tenant],
    );
    expect((await evaluate(body)).body.decision).toBe("deny");

    const other = { skill_id: "search.web", tenant_id: tenant, payload: {} };
    await adminPost("budgets", { tenant_id: tenant, period: "day", limit_cents: 15, enforcement: "hard" });
    expect((await evaluate(other)).body.decision).toBe("requires_approval");
    // Spend is read fresh on every evaluation, cache or not.
    await testSql().query(
      "INSERT INTO spend_ledger (tenant_id, amount_cents, source, reference) VALUES ($1, 10, 'usage', $2)",
      [tenant, `u-${crypto.randomUUID()}`],
    );
    const after = await evaluate(other);
    expect(after.body.decision).toBe("deny");
    expect(after.body.reasons.join(" ")).toMatch(/10 spent/);
  });
});
