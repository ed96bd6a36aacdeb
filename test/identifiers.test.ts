// Identifiers have one spelling (issue 23, "skill ids are matched case-sensitively"): every id (skill,
// tenant, agent, principal, requester, usage) is folded to the canonical form (NFKC, lower case, trimmed)
// at every entry point, so a `shell.*` deny rule holds against every way of writing shell.exec and
// against a tenant or agent written in another case (REST eval and filing, MCP, policy writes, the
// evaluation sandbox), self-approval sees `Alice` and `alice` as one person, and only a value that still
// breaks the pattern once folded is refused (400 naming the field), in the API, the console and the key
// rules the CLI shares.
import { describe, expect, it } from "vitest";
import { isSelfApproval } from "../src/domain/access.ts";
import { isSatisfied } from "../src/domain/approvals.ts";
import { canonicalId, canonicalIdentifier, canonicalIdPattern } from "../src/domain/limits.ts";
import { testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { callTool, connectMcp } from "./helpers/mcp.ts";

const POLICIES = "/api/v1/admin/policies";
const REQUESTS = "/api/v1/policy/requests";
const ORIGIN = "http://policy.test";

const newTenant = () => `ids-${crypto.randomUUID().slice(0, 8)}`;

/** Ways of writing shell.exec that NFKC, lower-casing and trimming fold to it. */
const FOLDED_SPELLINGS = [
  "Shell.exec",
  "SHELL.EXEC",
  "sHeLl.ExEc",
  " shell.exec",
  "shell.exec\t",
  "\u00a0shell.exec", // no-break space
  "shell.exec\u3000", // ideographic space
  "ｓｈｅｌｌ.ｅｘｅｃ", // full-width letters
  "ＳＨＥＬＬ．ＥＸＥＣ", // full-width letters and full stop
  "\u017fhell.exec", // ſ, long s
  "shell\u2024exec", // one dot leader
  "ｓhell\uff0eexec", // one full-width letter, full-width full stop
];

/** Look-alikes NFKC does not fold: refused, never matched loosely. */
const REFUSED_SPELLINGS = [
  "shell\u200b.exec", // zero-width space inside
  "\u0455hell.exec", // Cyrillic dze
  "she\u0142l.exec", // l with stroke
  "shell .exec",
];

async function post(path: string, body: unknown, key: TestKey) {
  const res = await postJson(path, body, key.headers);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & ErrorEnvelope };
}

async function denyShell(admin: TestKey, tenant: string, pattern = "shell.*") {
  const res = await post(
    `${POLICIES}/capability-rules`,
    { tenant_id: tenant, skill_pattern: pattern, effect: "deny" },
    admin,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** The fields a 400 validation_failed names. */
function fieldsOf(body: ErrorEnvelope): string[] {
  const details = body.error.details as { issues?: { path: string }[] } | undefined;
  return (details?.issues ?? []).map((issue) => issue.path);
}

describe("the canonical form (src/domain/limits.ts)", () => {
  it("folds every spelling of a skill id to one, and refuses what does not fold to the pattern", () => {
    for (const spelling of FOLDED_SPELLINGS) {
      expect(canonicalId(spelling), JSON.stringify(spelling)).toEqual({ ok: true, value: "shell.exec" });
    }
    for (const spelling of REFUSED_SPELLINGS) {
      expect(canonicalId(spelling).ok, JSON.stringify(spelling)).toBe(false);
    }
    expect(canonicalId("").ok).toBe(false);
    expect(canonicalId("a".repeat(201)).ok).toBe(false);
    expect(canonicalIdPattern("Shell.*")).toEqual({ ok: true, value: "shell.*" });
    expect(canonicalIdPattern(" ＊ ")).toEqual({ ok: true, value: "*" });
    expect(canonicalIdPattern("a*b").ok).toBe(false);
  });

  it("is idempotent: a canonical value folds to itself", () => {
    for (const value of ["shell.exec", "a_b-c@d:e/f.g", "x"]) expect(canonicalIdentifier(value)).toBe(value);
    for (const spelling of FOLDED_SPELLINGS) {
      const once = canonicalIdentifier(spelling);
      expect(canonicalIdentifier(once)).toBe(once);
    }
  });

  it("folds tenant, agent and principal ids the same way, and refuses what still breaks the pattern", () => {
    for (const spelling of ["acme", "Acme", "ACME", " acme", "acme\t", "ａｃｍｅ", "Ａｃｍｅ"]) {
      expect(canonicalId(spelling), JSON.stringify(spelling)).toEqual({ ok: true, value: "acme" });
    }
    for (const spelling of ["a\u200bcme", "\u0430cme", "ac me", "acme!", "", "   ", "a".repeat(201)]) {
      expect(canonicalId(spelling).ok, JSON.stringify(spelling)).toBe(false);
    }
    expect(canonicalIdPattern("Billing-*")).toEqual({ ok: true, value: "billing-*" });
  });

  it("self-approval compares folded principals, so records written before the fold are covered too", () => {
    const approver = { principalId: "alice", keyId: "k1" };
    expect(isSelfApproval(approver, { requestedBy: "Alice" })).toBe(true);
    expect(isSelfApproval({ principalId: "Alice", keyId: "k1" }, { requestedBy: "alice" })).toBe(true);
    expect(isSelfApproval(approver, { requestedBy: "bob", requesterPrincipalId: "ALICE" })).toBe(true);
    expect(isSelfApproval(approver, { requestedBy: "bob", requesterPrincipalId: null })).toBe(false);
  });

  it("a quorum counts folded principals: Alice (written before the fold) and alice are one approver", () => {
    const entry = (approverId: string) => ({
      approver_id: approverId,
      level: 3,
      action: "approve" as const,
      notes: null,
      timestamp: "t",
    });
    const state = { requiredLevel: 3, requiredApprovals: 2, payloadHash: "h", approvedPayloadHash: null };
    expect(isSatisfied(state, [entry("Alice"), entry("alice")])).toBe(false);
    expect(isSatisfied(state, [entry("alice"), entry("bob")])).toBe(true);
  });
});

describe("a shell.* deny rule holds against every spelling of shell.exec", () => {
  it("REST eval: each spelling is denied (folded to the rule) or refused with 400, never allowed", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    await denyShell(admin, tenant);
    for (const skill of FOLDED_SPELLINGS) {
      const res = await post("/api/v1/policy/eval", { skill_id: skill, tenant_id: tenant }, agent);
      expect(res.status, `${JSON.stringify(skill)}: ${JSON.stringify(res.body)}`).toBe(200);
      expect(res.body.decision, JSON.stringify(skill)).toBe("deny");
    }
    for (const skill of REFUSED_SPELLINGS) {
      const res = await post("/api/v1/policy/eval", { skill_id: skill, tenant_id: tenant }, agent);
      expect(res.status, JSON.stringify(skill)).toBe(400);
      expect(fieldsOf(res.body)).toContain("skill_id");
    }
    // The decision log keeps the canonical id, whatever was sent.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const logged = (await testSql()`
      SELECT DISTINCT skill_id FROM policy_decisions WHERE tenant_id = ${tenant}`) as { skill_id: string }[];
    expect(logged.map((row) => row.skill_id)).toEqual(["shell.exec"]);
  });

  it("REST filing: each spelling is refused (policy_denied or 400); no request is filed", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    await denyShell(admin, tenant);
    for (const skill of [...FOLDED_SPELLINGS, ...REFUSED_SPELLINGS]) {
      const res = await post(
        REQUESTS,
        { policy_type: "cost", skill_id: skill, tenant_id: tenant, requested_by: agent.principalId },
        agent,
      );
      expect([400, 403], `${JSON.stringify(skill)}: ${JSON.stringify(res.body)}`).toContain(res.status);
      if (FOLDED_SPELLINGS.includes(skill)) expect(res.body.error.code).toBe("policy_denied");
    }
    const filed = await testSql()`SELECT id FROM approval_requests WHERE tenant_id = ${tenant}`;
    expect(filed).toHaveLength(0);
  });

  it("MCP evaluate_action and request_approval: denied or refused, never allowed or filed", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    await denyShell(admin, tenant);
    const client = await connectMcp(agent.token);
    try {
      for (const skill of [...FOLDED_SPELLINGS, ...REFUSED_SPELLINGS]) {
        const folded = FOLDED_SPELLINGS.includes(skill);
        const evaluated = await callTool(client, "evaluate_action", { skill_id: skill, tenant_id: tenant });
        if (folded) expect(evaluated.structured.decision, JSON.stringify(skill)).toBe("deny");
        else expect(evaluated.code, JSON.stringify(skill)).toBe("validation_failed");
        const filed = await callTool(client, "request_approval", {
          policy_type: "cost",
          skill_id: skill,
          tenant_id: tenant,
          requested_by: agent.principalId,
          idempotency_key: crypto.randomUUID(),
        });
        expect(filed.isError, JSON.stringify(skill)).toBe(true);
        expect(filed.code, JSON.stringify(skill)).toBe(folded ? "policy_denied" : "validation_failed");
      }
    } finally {
      await client.close();
    }
    expect(await testSql()`SELECT id FROM approval_requests WHERE tenant_id = ${tenant}`).toHaveLength(0);
  });

  it("a shell.* rule also covers the bare namespace shell", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    await denyShell(admin, tenant);
    for (const skill of ["shell", "Shell", "SHELL"]) {
      const res = await post("/api/v1/policy/eval", { skill_id: skill, tenant_id: tenant }, agent);
      expect(res.body.decision, skill).toBe("deny");
    }
    // ...but not another name that merely starts the same way.
    const other = await post("/api/v1/policy/eval", { skill_id: "shellfish", tenant_id: tenant }, agent);
    expect(other.body.decision).not.toBe("deny");
  });
});

describe("policies are written in the canonical form", () => {
  it("a rule written as Shell.* is stored as shell.* and matches shell.exec the same way", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    const rule = await denyShell(admin, tenant, "Ｓhell.*");
    expect(rule.skill_pattern).toBe("shell.*");
    for (const skill of ["shell.exec", "Shell.exec"]) {
      const res = await post("/api/v1/policy/eval", { skill_id: skill, tenant_id: tenant }, agent);
      expect(res.body.decision, skill).toBe("deny");
    }
    // The same scope written another way is the same rule: a conflict, not a second row.
    const again = await post(
      `${POLICIES}/capability-rules`,
      { tenant_id: tenant, skill_pattern: "SHELL.*", effect: "allow" },
      admin,
    );
    expect(again.status).toBe(409);
    const stored = await testSql()`SELECT skill_pattern FROM capability_rules WHERE tenant_id = ${tenant}`;
    expect(stored).toEqual([{ skill_pattern: "shell.*" }]);
  });

  it("approval levels and skill costs fold their skill ids; the skill-cost path id folds too", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    const skill = `Vault.${crypto.randomUUID().slice(0, 6).toUpperCase()}`;
    const level = await post(
      `${POLICIES}/approval-levels`,
      { policy_type: "cost", tenant_id: tenant, skill_id: skill, approval_level: "owner_override" },
      admin,
    );
    expect(level.status, JSON.stringify(level.body)).toBe(201);
    expect(level.body.skill_id).toBe(skill.toLowerCase());
    const cost = await post(`${POLICIES}/skill-costs`, { skill_id: ` ${skill} `, base_cents: 7 }, admin);
    expect(cost.status, JSON.stringify(cost.body)).toBe(201);
    expect(cost.body.skill_id).toBe(skill.toLowerCase());
    const read = await call(`${POLICIES}/skill-costs/${encodeURIComponent(skill)}`, {
      headers: admin.headers,
    });
    expect(read.status).toBe(200);

    const evaluated = await post(
      "/api/v1/policy/eval",
      { skill_id: skill.toUpperCase(), tenant_id: tenant },
      agent,
    );
    expect(evaluated.body).toMatchObject({ approval_level_required: 5, simulated_cost_cents: 7 });
  });

  it("refuses a skill pattern that does not fold to the pattern, naming the field", async () => {
    const admin = await createTestKey("admin");
    const res = await post(
      `${POLICIES}/capability-rules`,
      { tenant_id: newTenant(), skill_pattern: "\u0455hell.*", effect: "deny" },
      admin,
    );
    expect(res.status).toBe(400);
    expect(fieldsOf(res.body)).toContain("skill_pattern");
  });

  it("the database refuses a non-canonical skill id written by hand-written SQL", async () => {
    const tenant = newTenant();
    await expect(
      testSql()`INSERT INTO capability_rules (tenant_id, skill_pattern, effect) VALUES (${tenant}, 'Shell.*', 'deny')`,
    ).rejects.toThrow(/capability_rules_skill_pattern_canonical/);
    await expect(testSql()`INSERT INTO skill_costs (skill_id) VALUES (${`Cost.${tenant}`})`).rejects.toThrow(
      /skill_costs_skill_id_canonical/,
    );
    await expect(
      testSql()`INSERT INTO policy_approval_levels (policy_type, tenant_id, skill_id) VALUES ('cost', ${tenant}, 'A.b')`,
    ).rejects.toThrow(/policy_approval_levels_skill_id_canonical/);
  });

  it("the evaluation sandbox folds proposed rules the same way", async () => {
    const admin = await createTestKey("admin");
    const tenant = newTenant();
    const res = await post(
      "/api/v1/policy/eval",
      {
        skill_id: "SHELL.EXEC",
        tenant_id: tenant,
        policy_overrides: {
          capability_rules: [{ tenant_id: tenant, skill_pattern: "Shell.*", effect: "deny" }],
        },
      },
      admin,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.decision).toBe("deny");
  });
});

describe("tenant, agent and requester ids in any case are folded, and rules scoped to them apply", () => {
  it("a tenant-wide shell.* deny holds when the tenant is written in another case (REST, MCP)", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    await denyShell(admin, tenant);
    for (const spelling of [
      tenant.toUpperCase(),
      ` ${tenant} `,
      `${tenant[0]?.toUpperCase()}${tenant.slice(1)}`,
    ]) {
      const evaluated = await post(
        "/api/v1/policy/eval",
        { skill_id: "shell.exec", tenant_id: spelling },
        agent,
      );
      expect(evaluated.status, JSON.stringify(evaluated.body)).toBe(200);
      expect(evaluated.body.decision, spelling).toBe("deny");
      const filed = await post(
        REQUESTS,
        { policy_type: "cost", skill_id: "shell.exec", tenant_id: spelling, requested_by: agent.principalId },
        agent,
      );
      expect(filed.status, JSON.stringify(filed.body)).toBe(403);
      expect(filed.body.error.code).toBe("policy_denied");
    }
    const client = await connectMcp(agent.token);
    try {
      const evaluated = await callTool(client, "evaluate_action", {
        skill_id: "shell.exec",
        tenant_id: tenant.toUpperCase(),
      });
      expect(evaluated.structured.decision).toBe("deny");
    } finally {
      await client.close();
    }
    expect(await testSql()`SELECT id FROM approval_requests WHERE lower(tenant_id) = ${tenant}`).toHaveLength(
      0,
    );
  });

  it("a shell.* deny scoped to agent bot-1 applies to agent_id BOT-1 (REST eval and filing, MCP)", async () => {
    const admin = await createTestKey("admin");
    const platform = await createTestKey("agent"); // may act for any agent
    const tenant = newTenant();
    const rule = await post(
      `${POLICIES}/capability-rules`,
      { tenant_id: tenant, agent_id: "bot-1", skill_pattern: "shell.*", effect: "deny" },
      admin,
    );
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);
    for (const agentId of ["BOT-1", "Bot-1", "ｂｏｔ-1", " bot-1"]) {
      const evaluated = await post(
        "/api/v1/policy/eval",
        { skill_id: "shell.exec", tenant_id: tenant, agent_id: agentId },
        platform,
      );
      expect(evaluated.status, JSON.stringify(evaluated.body)).toBe(200);
      expect(evaluated.body.decision, agentId).toBe("deny");
      const filed = await post(
        REQUESTS,
        {
          policy_type: "cost",
          skill_id: "shell.exec",
          tenant_id: tenant,
          agent_id: agentId,
          requested_by: "bot-1",
        },
        platform,
      );
      expect(filed.status, JSON.stringify(filed.body)).toBe(403);
      expect(filed.body.error.code).toBe("policy_denied");
    }
    const client = await connectMcp(platform.token);
    try {
      const evaluated = await callTool(client, "evaluate_action", {
        skill_id: "shell.exec",
        tenant_id: tenant,
        agent_id: "BOT-1",
      });
      expect(evaluated.structured.decision).toBe("deny");
    } finally {
      await client.close();
    }
    // Another agent is not covered by the rule.
    const other = await post(
      "/api/v1/policy/eval",
      { skill_id: "shell.exec", tenant_id: tenant, agent_id: "BOT-2" },
      platform,
    );
    expect(other.body.decision).not.toBe("deny");
    expect(await testSql()`SELECT id FROM approval_requests WHERE tenant_id = ${tenant}`).toHaveLength(0);
  });

  it("an agent key bound to bot-* acts for BOT-1, as bot-1", async () => {
    const tenant = newTenant();
    const bound = await createTestKey("agent", { agentIds: ["bot-*"] });
    const res = await post(
      "/api/v1/policy/eval",
      { skill_id: "a.b", tenant_id: tenant, agent_id: "BOT-1" },
      bound,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it("self-approval: requested_by Alice is the principal alice, who cannot approve or reject it", async () => {
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    const alice = `alice-${crypto.randomUUID().slice(0, 6)}`;
    const filed = await post(
      REQUESTS,
      { policy_type: "cost", skill_id: "vault.open", tenant_id: tenant, requested_by: alice.toUpperCase() },
      agent,
    );
    expect(filed.status, JSON.stringify(filed.body)).toBe(200);
    const id = String(filed.body.request_id);
    const approver = await createTestKey("approver", { principalId: alice, maxLevel: 5 });
    for (const action of ["approve", "reject"]) {
      const res = await post(`${REQUESTS}/${id}/${action}`, {}, approver);
      expect(res.status, `${action}: ${JSON.stringify(res.body)}`).toBe(403);
    }
    const read = await call(`${REQUESTS}/${id}`, { headers: agent.headers });
    expect(await read.json()).toMatchObject({ status: "pending", requested_by: alice, tenant_id: tenant });
  });

  it("a tenant-scoped key acts for its tenant written in another case, and its rules hold", async () => {
    const admin = await createTestKey("admin");
    const tenant = newTenant();
    await denyShell(admin, tenant);
    const scoped = await createTestKey("agent", { tenantId: tenant });
    const res = await post(
      "/api/v1/policy/eval",
      { skill_id: "Shell.Exec", tenant_id: tenant.toUpperCase() },
      scoped,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.decision).toBe("deny");
  });

  it("answers and records show the canonical ids (usage, filing, list filters)", async () => {
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    const usage = await post(
      "/api/v1/policy/usage",
      {
        usage_id: `U-${tenant}`,
        tenant_id: tenant.toUpperCase(),
        agent_id: "Bot-9",
        skill_id: "A.B",
        amount_cents: 3,
      },
      agent,
    );
    expect(usage.status, JSON.stringify(usage.body)).toBe(201);
    expect(usage.body).toMatchObject({ tenant_id: tenant, agent_id: "bot-9", skill_id: "a.b" });
    const filed = await post(
      REQUESTS,
      {
        policy_type: "cost",
        skill_id: "Vault.Open",
        tenant_id: ` ${tenant.toUpperCase()}`,
        agent_id: "BOT-9",
        requested_by: "Bob",
      },
      agent,
    );
    expect(filed.status, JSON.stringify(filed.body)).toBe(200);
    const stored = await testSql()`
      SELECT tenant_id, agent_id, skill_id, requested_by FROM approval_requests WHERE id = ${String(filed.body.request_id)}`;
    expect(stored).toEqual([
      { tenant_id: tenant, agent_id: "bot-9", skill_id: "vault.open", requested_by: "bob" },
    ]);
    const listed = await call(`${REQUESTS}?tenant_id=${tenant.toUpperCase()}&requested_by=BOB`, {
      headers: agent.headers,
    });
    expect(listed.status).toBe(200);
    const page = (await listed.json()) as {
      data?: { request_id: string }[];
      requests?: { request_id: string }[];
    };
    expect(JSON.stringify(page)).toContain(String(filed.body.request_id));
  });

  it("refuses, naming the field, an id that still breaks the pattern once folded", async () => {
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    const cases: [string, Record<string, unknown>, string][] = [
      ["/api/v1/policy/eval", { skill_id: "a.b", tenant_id: "ac me" }, "tenant_id"],
      ["/api/v1/policy/eval", { skill_id: "a.b", tenant_id: `${tenant}\u200b` }, "tenant_id"],
      ["/api/v1/policy/eval", { skill_id: "a.b", tenant_id: "\u0430cme" }, "tenant_id"],
      ["/api/v1/policy/eval", { skill_id: "a.b", tenant_id: "a".repeat(201) }, "tenant_id"],
      ["/api/v1/policy/eval", { skill_id: "a.b", tenant_id: tenant, agent_id: "bot 1" }, "agent_id"],
      [
        REQUESTS,
        { policy_type: "cost", skill_id: "a.b", tenant_id: tenant, requested_by: "Al\u200bice" },
        "requested_by",
      ],
      ["/api/v1/policy/usage", { usage_id: "u 1", tenant_id: tenant, amount_cents: 1 }, "usage_id"],
      ["/api/v1/policy/usage", { usage_id: "u-1", tenant_id: "   ", amount_cents: 1 }, "tenant_id"],
    ];
    for (const [path, body, field] of cases) {
      const res = await post(path, body, agent);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(fieldsOf(res.body), JSON.stringify(body)).toContain(field);
    }
  });

  it("the admin API creates a key with folded principal, tenant and agents, and refuses what cannot fold", async () => {
    const admin = await createTestKey("admin");
    const suffix = crypto.randomUUID().slice(0, 6);
    const created = await post(
      "/api/v1/admin/keys",
      {
        principal_id: `Gateway-${suffix}`,
        role: "agent",
        tenant_id: `Demo-${suffix}`,
        agent_ids: ["Billing-*", "BOT-1"],
      },
      admin,
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      principal_id: `gateway-${suffix}`,
      tenant_id: `demo-${suffix}`,
      agent_ids: ["billing-*", "bot-1"],
    });
    const cases: [Record<string, unknown>, string][] = [
      [{ principal_id: "Al ice", role: "approver", max_level: 3 }, "principal_id"],
      [{ principal_id: "bot", role: "agent", tenant_id: "demo tenant" }, "tenant_id"],
      [{ principal_id: "bot", role: "agent", agent_ids: ["bill\u200bing-*"] }, "agent_ids"],
    ];
    for (const [body, field] of cases) {
      const res = await post("/api/v1/admin/keys", body, admin);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(res.body)).toContain(field);
    }
  });

  it("a key stored before the fold with a non-canonical tenant is not matched loosely", async () => {
    // Legacy rows are not rewritten: such a key must be replaced by one with the canonical tenant.
    const tenant = newTenant();
    const legacy = await createTestKey("agent", { tenantId: tenant.toUpperCase() });
    const res = await post(
      "/api/v1/policy/eval",
      { skill_id: "a.b", tenant_id: tenant.toUpperCase() },
      legacy,
    );
    expect(res.status).toBe(403);
  });
});

describe("records written before the fold", () => {
  // The query in docs/RUNBOOK.md ("Policy Operations") that lists what the fold no longer reaches.
  const ID = "'^[a-z0-9_.@:/-]+$'";
  const LEGACY_IDS_QUERY = `SELECT 'capability_rules' AS source, id::text, tenant_id, agent_id FROM capability_rules WHERE tenant_id !~ ${ID} OR agent_id !~ ${ID} UNION ALL SELECT 'policy_approval_levels', id::text, tenant_id, agent_id FROM policy_approval_levels WHERE tenant_id !~ ${ID} OR agent_id !~ ${ID} OR escalate_to !~ ${ID} UNION ALL SELECT 'budgets', id::text, tenant_id, agent_id FROM budgets WHERE tenant_id !~ ${ID} OR agent_id !~ ${ID} UNION ALL SELECT 'api_keys', id, tenant_id, principal_id FROM api_keys WHERE revoked_at IS NULL AND (tenant_id !~ ${ID} OR principal_id !~ ${ID} OR EXISTS (SELECT 1 FROM unnest(agent_ids) AS pattern WHERE pattern !~ '^([a-z0-9_.@:/-]+[*]?|[*])$'));`;

  it("a rule stored under another spelling is not matched loosely, and the runbook's query lists it", async () => {
    const agent = await createTestKey("agent");
    const tenant = newTenant();
    const legacy = tenant.toUpperCase();
    const [row] = (await testSql()`
      INSERT INTO capability_rules (tenant_id, skill_pattern, effect) VALUES (${legacy}, 'shell.*', 'deny')
      RETURNING id`) as { id: number }[];
    // The call is for the canonical tenant; the row keeps its old spelling and is not reached (the
    // runbook says to PATCH it, which folds it).
    const res = await post("/api/v1/policy/eval", { skill_id: "shell.exec", tenant_id: legacy }, agent);
    expect(res.status).toBe(200);
    expect(res.body.decision).not.toBe("deny");
    const key = await createTestKey("agent", { tenantId: legacy, agentIds: ["Bot-*"] });
    const listed = (await testSql().query(LEGACY_IDS_QUERY)) as {
      source: string;
      id: string;
      tenant_id: string;
    }[];
    const mine = listed.filter((row) => row.tenant_id === legacy).map((row) => row.source);
    expect(mine.sort()).toEqual(["api_keys", "capability_rules"]);
    expect(listed.some((row) => row.id === key.keyId)).toBe(true);

    // PATCHed through the API, the row is folded and applies.
    const admin = await createTestKey("admin");
    const patched = await call(`${POLICIES}/capability-rules/${row?.id}`, {
      method: "PATCH",
      headers: { ...admin.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ tenant_id: legacy }),
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ tenant_id: tenant });
    const after = await post("/api/v1/policy/eval", { skill_id: "shell.exec", tenant_id: legacy }, agent);
    expect(after.body.decision).toBe("deny");
  });
});

describe("the console applies the same function", () => {
  function form(fields: Record<string, string>, cookie: string) {
    return {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: ORIGIN, Cookie: cookie },
      body: new URLSearchParams(fields).toString(),
      redirect: "manual" as const,
    };
  }

  async function signIn(key: TestKey): Promise<{ cookie: string; csrf: string }> {
    const res = await call("/console/login", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: ORIGIN },
      body: new URLSearchParams({ api_key: key.token }).toString(),
      redirect: "manual",
    });
    expect(res.status).toBe(303);
    const cookie = (res.headers.get("Set-Cookie") ?? "").split(";")[0] ?? "";
    const page = await (await call("/console", { headers: { Cookie: cookie } })).text();
    return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? "" };
  }

  it("key creation folds the principal, tenant and agents, and refuses what cannot fold", async () => {
    const admin = await createTestKey("admin");
    const { cookie, csrf } = await signIn(admin);
    const suffix = crypto.randomUUID().slice(0, 6);
    const made = await call(
      "/console/admin/keys",
      form(
        {
          _csrf: csrf,
          principal_id: `Ops-${suffix}`,
          role: "agent",
          tenant_id: `Demo-${suffix}`,
          agent_ids: "Billing-*, BOT-1",
        },
        cookie,
      ),
    );
    expect(made.status).toBe(200);
    const stored = await testSql()`
      SELECT principal_id, tenant_id, agent_ids FROM api_keys WHERE lower(principal_id) = ${`ops-${suffix}`}`;
    expect(stored).toEqual([
      { principal_id: `ops-${suffix}`, tenant_id: `demo-${suffix}`, agent_ids: ["billing-*", "bot-1"] },
    ]);
    const refused = `Bad-${suffix}`;
    const forms: Record<string, string>[] = [
      { principal_id: `${refused} x`, role: "approver", max_level: "3" },
      { principal_id: refused, role: "agent", tenant_id: "demo tenant" },
      { principal_id: refused, role: "agent", agent_ids: "bill\u200bing-*" },
    ];
    for (const fields of forms) {
      const res = await call("/console/admin/keys", form({ _csrf: csrf, ...fields }, cookie));
      expect(res.status, JSON.stringify(fields)).toBe(400);
    }
    const none = await testSql()`SELECT id FROM api_keys WHERE lower(principal_id) LIKE ${`bad-${suffix}%`}`;
    expect(none).toHaveLength(0);
  });

  it("the inbox filters fold the skill and tenant, and refuse what cannot fold", async () => {
    const admin = await createTestKey("admin");
    const agent = await createTestKey("agent");
    const approver = await createTestKey("approver", { maxLevel: 5 });
    const tenant = newTenant();
    await post(
      `${POLICIES}/capability-rules`,
      { tenant_id: tenant, skill_pattern: "vault.*", effect: "require_approval" },
      admin,
    );
    const filed = await post(
      REQUESTS,
      { policy_type: "cost", skill_id: "Vault.Open", tenant_id: tenant, requested_by: agent.principalId },
      agent,
    );
    expect(filed.status, JSON.stringify(filed.body)).toBe(200);
    const id = String(filed.body.request_id);
    const stored = await testSql()`SELECT skill_id FROM approval_requests WHERE id = ${id}`;
    expect(stored).toEqual([{ skill_id: "vault.open" }]);

    const { cookie } = await signIn(approver);
    const found = await call(`/console?tenant=${tenant.toUpperCase()}&skill=VAULT.OPEN`, {
      headers: { Cookie: cookie },
    });
    expect(found.status).toBe(200);
    expect(await found.text()).toContain(id);
    const refused = await call(`/console?tenant=${encodeURIComponent(`${tenant} x`)}`, {
      headers: { Cookie: cookie },
    });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("tenant: use letters, digits");
  });
});
