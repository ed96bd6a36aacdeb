// The security review's findings, each reproduced against the worker and held closed: filing cannot
// bypass evaluation, the filing key's principal is the requester, agent ids are bound to keys, cost
// inputs are bounded, levels bound vetoes, quorum and administration, and logs and hashes hold no
// secrets. (Findings 5 and 9, input hygiene and headers/SSRF, have their own test files.)
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";

const REQUESTS = "/api/v1/policy/requests";
const POLICIES = "/api/v1/admin/policies";
let admin: TestKey;
let platformAgent: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  platformAgent = await createTestKey("agent", { principalId: "platform", agentIds: ["*"] });
});

const newTenant = () => `sr-${crypto.randomUUID().slice(0, 8)}`;

async function post(path: string, body: unknown, key: TestKey) {
  const res = await postJson(path, body, key.headers);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & ErrorEnvelope };
}

async function addPolicy(kind: string, body: Record<string, unknown>, key: TestKey = admin) {
  const res = await post(`${POLICIES}/${kind}`, body, key);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as unknown as { id: number };
}

function evaluate(body: Record<string, unknown>, key: TestKey = platformAgent) {
  return post("/api/v1/policy/eval", body, key);
}

function file(body: Record<string, unknown>, key: TestKey = platformAgent) {
  return post(REQUESTS, { policy_type: "cost", requested_by: key.principalId, ...body }, key);
}

describe("1. filing applies the same evaluation as eval", () => {
  it("a require_approval rule at owner_override makes the filed request need level 5, not 3", async () => {
    const tenant = newTenant();
    await addPolicy("capability-rules", {
      tenant_id: tenant,
      skill_pattern: "vault.*",
      effect: "require_approval",
      approval_level: "owner_override",
    });
    const call = { skill_id: "vault.read", tenant_id: tenant };
    expect((await evaluate(call)).body.approval_level_required).toBe(5);
    const filed = await file(call);
    expect(filed.status).toBe(200);
    expect(filed.body).toMatchObject({ status: "pending", required_level: 5 });

    // A level-3 approver decides nothing on it; a level-5 one approves.
    const id = String(filed.body.request_id);
    const low = await post(`${REQUESTS}/${id}/approve`, {}, await createTestKey("approver", { maxLevel: 3 }));
    expect(low.body.status).toBe("pending");
    const high = await post(
      `${REQUESTS}/${id}/approve`,
      {},
      await createTestKey("approver", { maxLevel: 5 }),
    );
    expect(high.body.status).toBe("approved");
  });

  it("a denied action is refused with the reasons, and no request row exists", async () => {
    const tenant = newTenant();
    await addPolicy("capability-rules", { tenant_id: tenant, skill_pattern: "danger.*", effect: "deny" });
    await addPolicy("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      skill_id: "danger.op",
      approval_level: "pre_approved",
    });
    expect((await evaluate({ skill_id: "danger.op", tenant_id: tenant })).body.decision).toBe("deny");
    const filed = await file({ skill_id: "danger.op", tenant_id: tenant });
    expect(filed.status).toBe(403);
    expect(filed.body.error.code).toBe("policy_denied");
    expect(filed.body.error.message).toMatch(/no request was filed/);
    expect(filed.body.error.details).toMatchObject({
      decision: "deny",
      reasons: [expect.stringContaining("danger.op is not allowed")],
      violations: [{ type: "capability_denied", severity: "hard" }],
    });
    const rows = await testSql().query(
      "SELECT count(*)::int AS n FROM approval_requests WHERE tenant_id = $1",
      [tenant],
    );
    expect(rows[0]?.n).toBe(0);
  });

  it("a retry of a request filed before policy turned to deny replays its first answer", async () => {
    const tenant = newTenant();
    const body = { policy_type: "cost", requested_by: "platform", skill_id: "late.deny", tenant_id: tenant };
    const send = () =>
      call(REQUESTS, {
        method: "POST",
        headers: {
          ...platformAgent.headers,
          "Content-Type": "application/json",
          "Idempotency-Key": `k-${tenant}`,
        },
        body: JSON.stringify(body),
      });
    const first = await send();
    expect(first.status).toBe(200);
    const firstBody = await first.json();
    await addPolicy("capability-rules", { tenant_id: tenant, skill_pattern: "late.*", effect: "deny" });
    const retry = await send();
    expect(retry.status).toBe(200);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await retry.json()).toEqual(firstBody);
    // A new filing is refused.
    expect((await file({ skill_id: "late.deny", tenant_id: tenant })).body.error.code).toBe("policy_denied");
  });

  it("eval and filing agree over a table of policies", async () => {
    const scenarios: {
      name: string;
      setup: (tenant: string) => Promise<void>;
      payload?: Record<string, unknown>;
      expected: "allow" | "deny" | "requires_approval";
    }[] = [
      {
        name: "no policy rows: the default agent_approve",
        setup: async () => {},
        expected: "requires_approval",
      },
      {
        name: "auto_approve within its ceilings",
        setup: async (tenant) => {
          await addPolicy("approval-levels", {
            policy_type: "cost",
            tenant_id: tenant,
            approval_level: "auto_approve",
          });
        },
        expected: "allow",
      },
      {
        name: "auto_approve over its token ceiling",
        setup: async (tenant) => {
          await addPolicy("approval-levels", {
            policy_type: "cost",
            tenant_id: tenant,
            approval_level: "auto_approve",
            auto_approve_max_tokens: 10,
          });
        },
        payload: { tokens: 11 },
        expected: "requires_approval",
      },
      {
        name: "manual_approve",
        setup: async (tenant) => {
          await addPolicy("approval-levels", {
            policy_type: "cost",
            tenant_id: tenant,
            approval_level: "manual_approve",
          });
        },
        expected: "requires_approval",
      },
      {
        name: "pre_approved but a capability rule requires manual_approve",
        setup: async (tenant) => {
          await addPolicy("approval-levels", {
            policy_type: "cost",
            tenant_id: tenant,
            approval_level: "pre_approved",
          });
          await addPolicy("capability-rules", {
            tenant_id: tenant,
            skill_pattern: "skill.x",
            effect: "require_approval",
            approval_level: "manual_approve",
          });
        },
        expected: "requires_approval",
      },
      {
        name: "auto_approve but the skill is denied",
        setup: async (tenant) => {
          await addPolicy("approval-levels", {
            policy_type: "cost",
            tenant_id: tenant,
            approval_level: "auto_approve",
          });
          await addPolicy("capability-rules", {
            tenant_id: tenant,
            skill_pattern: "skill.*",
            effect: "deny",
          });
        },
        expected: "deny",
      },
      {
        name: "auto_approve but a hard budget is spent",
        setup: async (tenant) => {
          await addPolicy("approval-levels", {
            policy_type: "cost",
            tenant_id: tenant,
            approval_level: "auto_approve",
          });
          await addPolicy("budgets", { tenant_id: tenant, period: "day", limit_cents: 5 });
        },
        expected: "deny",
      },
      {
        name: "auto_approve but a soft budget is spent",
        setup: async (tenant) => {
          await addPolicy("approval-levels", {
            policy_type: "cost",
            tenant_id: tenant,
            approval_level: "auto_approve",
          });
          await addPolicy("budgets", {
            tenant_id: tenant,
            period: "month",
            limit_cents: 5,
            enforcement: "soft",
          });
        },
        expected: "requires_approval",
      },
      {
        name: "a level name written by hand in SQL counts as the strictest",
        setup: async (tenant) => {
          await testSql().query(
            "INSERT INTO policy_approval_levels (policy_type, tenant_id, approval_level) VALUES ('cost', $1, 'whatever')",
            [tenant],
          );
        },
        expected: "requires_approval",
      },
    ];
    for (const scenario of scenarios) {
      const tenant = newTenant();
      await scenario.setup(tenant);
      const body = { skill_id: "skill.x", tenant_id: tenant, payload: scenario.payload ?? {} };
      const evaluated = await evaluate(body);
      expect(evaluated.body.decision, scenario.name).toBe(scenario.expected);
      const filed = await file(body);
      if (scenario.expected === "deny") {
        expect(filed.status, scenario.name).toBe(403);
        expect(filed.body.error.code, scenario.name).toBe("policy_denied");
        continue;
      }
      expect(filed.status, scenario.name).toBe(200);
      expect(filed.body.status, scenario.name).toBe(
        scenario.expected === "allow" ? "auto_approved" : "pending",
      );
      expect(filed.body.required_level, scenario.name).toBe(evaluated.body.approval_level_required);
    }
  });
});

describe("2. the filing key's principal is the requester", () => {
  it("another key of the same principal cannot approve, whatever requested_by said", async () => {
    const agent = await createTestKey("agent", { principalId: "dual-person", agentIds: ["*"] });
    const approver = await createTestKey("approver", { principalId: "dual-person", maxLevel: 5 });
    const filed = await file(
      { skill_id: "a.b", tenant_id: newTenant(), requested_by: "someone-else" },
      agent,
    );
    expect(filed.status).toBe(200);
    const res = await post(`${REQUESTS}/${filed.body.request_id}/approve`, {}, approver);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/requested an action cannot decide it/);
    // Someone else may.
    const other = await createTestKey("approver", { maxLevel: 5 });
    expect((await post(`${REQUESTS}/${filed.body.request_id}/approve`, {}, other)).body.status).toBe(
      "approved",
    );
  });
});

describe("3. agent_id is bound to the key", () => {
  let tenant: string;
  beforeAll(async () => {
    tenant = newTenant();
    await addPolicy("capability-rules", {
      tenant_id: tenant,
      agent_id: "bot-bad",
      skill_pattern: "*",
      effect: "deny",
    });
  });

  it("an agent key acts as its own principal: another agent_id is 403, none is itself", async () => {
    const bad = await createTestKey("agent", { principalId: "bot-bad", agentIds: null });
    const evade = await evaluate({ skill_id: "a.b", tenant_id: tenant, agent_id: "bot-good" }, bad);
    expect(evade.status).toBe(403);
    expect(evade.body.error.message).toBe(
      'This key acts only as agent bot-bad: send agent_id "bot-bad" or omit it',
    );
    expect((await evaluate({ skill_id: "a.b", tenant_id: tenant }, bad)).body.decision).toBe("deny");
    const filed = await file({ skill_id: "a.b", tenant_id: tenant, agent_id: "bot-good" }, bad);
    expect(filed.status).toBe(403);
    const omitted = await file({ skill_id: "a.b", tenant_id: tenant }, bad);
    expect(omitted.body.error.code).toBe("policy_denied");
  });

  it("a key made for a list of agents acts only for them, and must say which", async () => {
    const listed = await createTestKey("agent", { principalId: "runner", agentIds: ["bot-good", "team-*"] });
    expect(
      (await evaluate({ skill_id: "a.b", tenant_id: tenant, agent_id: "bot-good" }, listed)).status,
    ).toBe(200);
    expect((await evaluate({ skill_id: "a.b", tenant_id: tenant, agent_id: "team-7" }, listed)).status).toBe(
      200,
    );
    expect((await evaluate({ skill_id: "a.b", tenant_id: tenant, agent_id: "bot-bad" }, listed)).status).toBe(
      403,
    );
    const none = await evaluate({ skill_id: "a.b", tenant_id: tenant }, listed);
    expect(none.status).toBe(403);
    expect(none.body.error.message).toMatch(/send agent_id/);
  });

  it("platform keys say so when they are created, through the admin API", async () => {
    const created = await post(
      "/api/v1/admin/keys",
      { principal_id: "gateway", role: "agent", agent_ids: ["*"] },
      admin,
    );
    expect(created.status).toBe(201);
    expect(created.body.agent_ids).toEqual(["*"]);
    const gateway = { headers: { Authorization: `Bearer ${created.body.api_key}` } } as TestKey;
    expect(
      (await evaluate({ skill_id: "a.b", tenant_id: tenant, agent_id: "bot-bad" }, gateway)).body.decision,
    ).toBe("deny");
    const plain = await post("/api/v1/admin/keys", { principal_id: "solo", role: "agent" }, admin);
    expect(plain.body.agent_ids).toBeNull();
    for (const bad of [
      { principal_id: "x", role: "approver", max_level: 3, agent_ids: ["*"] },
      { principal_id: "x", role: "agent", agent_ids: ["bad pattern"] },
      { principal_id: "x", role: "agent", agent_ids: ["mid*dle"] },
    ]) {
      const res = await post("/api/v1/admin/keys", bad, admin);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(JSON.stringify(res.body.error.details)).toContain("agent_ids");
    }
  });
});

describe("4. numbers that feed cost arithmetic are bounded", () => {
  it("refuses token counts beyond the bound, or not numbers, naming the field", async () => {
    for (const [field, value] of [
      ["tokens", 3e9],
      ["max_tokens", 1e308],
      ["estimated_tokens", -1],
      ["tokens", "5000"],
      ["input_tokens", 1e9],
    ] as const) {
      for (const send of [evaluate, file]) {
        const res = await send({ skill_id: "a.b", tenant_id: newTenant(), payload: { [field]: value } });
        expect(res.status, `${field}=${value}`).toBe(400);
        expect(res.body.error.details).toMatchObject({ issues: [{ path: `payload.${field}` }] });
      }
    }
  });

  it("saturates an enormous cost instead of overflowing, and still logs the decision", async () => {
    const skill = `costly.${crypto.randomUUID().slice(0, 8)}`;
    await addPolicy("skill-costs", {
      skill_id: skill,
      base_cents: 1_000_000_000,
      cents_per_1k_tokens: 1_000_000_000,
    });
    const tenant = newTenant();
    const res = await evaluate({ skill_id: skill, tenant_id: tenant, payload: { tokens: 100_000_000 } });
    expect(res.status).toBe(200);
    expect(res.body.simulated_cost_cents).toBe(2_147_483_647);
    const logged = await call(`/api/v1/policy/decisions/${res.body.decision_id}`, { headers: admin.headers });
    expect(logged.status).toBe(200);
    const filed = await file({ skill_id: skill, tenant_id: tenant, payload: { tokens: 100_000_000 } });
    expect(filed.status).toBe(200);
  });
});

describe("6. levels bound vetoes and quorum", () => {
  it("a level-1 approver cannot veto a level-4 request; its reject is kept as a note", async () => {
    const tenant = newTenant();
    await addPolicy("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "manual_approve",
    });
    const filed = await file({ skill_id: "a.b", tenant_id: tenant });
    const low = await createTestKey("approver", { maxLevel: 1 });
    const res = await post(`${REQUESTS}/${filed.body.request_id}/reject`, { notes: "I object" }, low);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("pending");
    expect(res.body.approvers).toMatchObject([
      { approver_id: low.principalId, action: "note", notes: "I object" },
    ]);
  });

  it("counts a note as note_added, not as an approval", async () => {
    const tenant = newTenant();
    await addPolicy("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "manual_approve",
    });
    const filed = await file({ skill_id: "a.b", tenant_id: tenant });
    const low = await createTestKey("approver", { maxLevel: 2 });
    const metrics = recordingDataset();
    const res = await call(
      `${REQUESTS}/${filed.body.request_id}/approve`,
      { method: "POST", headers: { ...low.headers, "Content-Type": "application/json" }, body: "{}" },
      { METRICS: metrics },
    );
    expect(res.status).toBe(200);
    expect(metrics.totals()).toMatchObject({ "nova_approval_actions_total{result=note_added}": 1 });
    expect(metrics.totals()).not.toHaveProperty("nova_approval_actions_total{result=approval_added}");
  });

  it("a level-1 approval does not count toward an M-of-N quorum of a level-4 request", async () => {
    const tenant = newTenant();
    await addPolicy("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "manual_approve",
      required_approvals: 2,
    });
    const { body } = await file({ skill_id: "a.b", tenant_id: tenant });
    const approve = async (level: number) =>
      (
        await post(
          `${REQUESTS}/${body.request_id}/approve`,
          {},
          await createTestKey("approver", { maxLevel: level }),
        )
      ).body.status;
    expect(await approve(4)).toBe("pending");
    expect(await approve(1)).toBe("pending");
    expect(await approve(4)).toBe("approved");
  });
});

describe("7. an admin's level bounds what it manages", () => {
  let lowAdmin: TestKey;
  beforeAll(async () => {
    lowAdmin = await createTestKey("admin", { maxLevel: 2 });
  });

  it("cannot revoke a key above its level, and can revoke one at or below it", async () => {
    const top = await createTestKey("admin", { maxLevel: 5 });
    const res = await call(`/api/v1/admin/keys/${top.keyId}`, {
      method: "DELETE",
      headers: lowAdmin.headers,
    });
    expect(res.status).toBe(403);
    expect((await call("/api/v1/admin/keys", { headers: top.headers })).status).toBe(200);
    const agent = await createTestKey("agent");
    expect(
      (await call(`/api/v1/admin/keys/${agent.keyId}`, { method: "DELETE", headers: lowAdmin.headers }))
        .status,
    ).toBe(200);
  });

  it("cannot create a key above its level", async () => {
    const res = await post(
      "/api/v1/admin/keys",
      { principal_id: "p", role: "approver", max_level: 3 },
      lowAdmin,
    );
    expect(res.status).toBe(403);
  });

  it("cannot change policy that governs levels above its own", async () => {
    const tenant = newTenant();
    const strict = await addPolicy("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "manual_approve",
    });
    const patch = (key: TestKey, body: unknown) =>
      call(`${POLICIES}/approval-levels/${strict.id}`, {
        method: "PATCH",
        headers: { ...key.headers, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    // Lowering a manual_approve row to auto_approve touches level 4.
    const lowered = await patch(lowAdmin, { approval_level: "auto_approve" });
    expect(lowered.status).toBe(403);
    expect(((await lowered.json()) as ErrorEnvelope).error.message).toMatch(/governs approval level 4/);
    // A more specific row overrides the broader ones: writing it governs their level too. The global
    // resource row is agent_approve (3), so a level-2 admin cannot undercut it for a tenant...
    const undercut = await post(
      `${POLICIES}/approval-levels`,
      { policy_type: "resource", tenant_id: tenant, approval_level: "pre_approved" },
      lowAdmin,
    );
    expect(undercut.status).toBe(403);
    expect(undercut.body.error.message).toMatch(/governs approval level 3/);
    // ...while a level-3 admin manages level 3 and below.
    const levelThree = await createTestKey("admin", { maxLevel: 3 });
    const own = await addPolicy(
      "approval-levels",
      { policy_type: "resource", tenant_id: tenant, approval_level: "pre_approved" },
      levelThree,
    );
    expect(own.id).toBeGreaterThan(0);
    // A require_approval rule at a low level could override a broader deny: capability rules are top-level.
    expect(
      (
        await post(
          `${POLICIES}/capability-rules`,
          {
            tenant_id: tenant,
            agent_id: "bot-1",
            skill_pattern: "x.y",
            effect: "require_approval",
            approval_level: "agent_approve",
          },
          levelThree,
        )
      ).status,
    ).toBe(403);
    // Capability rules that can deny or allow anything, budgets and settings govern every level.
    expect(
      (
        await post(
          `${POLICIES}/capability-rules`,
          { tenant_id: tenant, skill_pattern: "*", effect: "allow" },
          lowAdmin,
        )
      ).status,
    ).toBe(403);
    expect(
      (await post(`${POLICIES}/budgets`, { tenant_id: tenant, period: "day", limit_cents: 1 }, lowAdmin))
        .status,
    ).toBe(403);
    const settings = await call(`${POLICIES}/settings`, {
      method: "PATCH",
      headers: { ...lowAdmin.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ unknown_skill_cost_cents: 0 }),
    });
    expect(settings.status).toBe(403);
    // A top-level admin may.
    expect((await patch(admin, { approval_level: "auto_approve" })).status).toBe(200);
  });
});

describe("8. logs and hashes hold no secrets", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("logs a failed statement without its parameters", async () => {
    const tenant = "create-fails";
    await testSql().query(
      `ALTER TABLE approval_requests ADD CONSTRAINT reject_probe CHECK (tenant_id <> '${tenant}')`,
    );
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      const res = await file({
        skill_id: "a.b",
        tenant_id: tenant,
        payload: { card: "PAYLOAD-MARKER-4242" },
        webhook_url: "https://hooks.example.com/URL-MARKER",
        webhook_secret: "SECRET-MARKER-0123456789",
      });
      expect(res.status).toBe(500);
    } finally {
      await testSql().query("ALTER TABLE approval_requests DROP CONSTRAINT reject_probe");
    }
    const failure = lines.find((line) => line.includes('"msg":"unhandled_error"'));
    expect(failure).toBeDefined();
    expect(failure).toContain("withheld from logs");
    expect(failure).toContain("23514");
    for (const marker of ["PAYLOAD-MARKER", "URL-MARKER", "SECRET-MARKER", "v1."]) {
      expect(lines.join("\n")).not.toContain(marker);
    }
  });

  it("keys the idempotency hash, so the stored value depends on a server secret", async () => {
    const body = {
      skill_id: "a.b",
      tenant_id: newTenant(),
      webhook_url: "https://hooks.example.com/h",
      webhook_secret: "a-guessable-secret",
    };
    const hashes: string[] = [];
    for (const serverKey of [
      "dGVzdC1vbmx5LXdlYmhvb2stZW5jcnlwdGlvbi1rZXk=",
      "YW5vdGhlci10ZXN0LW9ubHktd2ViaG9vay1rZXktMzI=",
    ]) {
      const res = await call(
        REQUESTS,
        {
          method: "POST",
          headers: {
            ...platformAgent.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": crypto.randomUUID(),
          },
          body: JSON.stringify({ policy_type: "cost", requested_by: "platform", ...body }),
        },
        { WEBHOOK_ENCRYPTION_KEY: serverKey },
      );
      expect(res.status).toBe(200);
      const { request_id } = (await res.json()) as { request_id: string };
      const [row] = await testSql().query(
        "SELECT idempotency_body_hash FROM approval_requests WHERE id = $1",
        [request_id],
      );
      hashes.push(String(row?.idempotency_body_hash));
    }
    expect(hashes[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(hashes[0]).not.toBe(hashes[1]);
  });
});
