// Identifiers have one spelling (issue 23, "skill ids are matched case-sensitively"): a `shell.*` deny
// rule holds against every way of writing shell.exec, through REST eval and filing, MCP
// evaluate_action and request_approval, policy writes and the evaluation sandbox; skill ids are folded
// to the canonical form, tenant, agent and principal ids written otherwise are refused (400 naming the
// field), in the API, the console and the key rules the CLI shares.
import { describe, expect, it } from "vitest";
import {
  canonicalIdentifier,
  canonicalSkillId,
  canonicalSkillPattern,
  exactIdentifier,
} from "../src/domain/limits.ts";
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
      expect(canonicalSkillId(spelling), JSON.stringify(spelling)).toEqual({ ok: true, value: "shell.exec" });
    }
    for (const spelling of REFUSED_SPELLINGS) {
      expect(canonicalSkillId(spelling).ok, JSON.stringify(spelling)).toBe(false);
    }
    expect(canonicalSkillId("").ok).toBe(false);
    expect(canonicalSkillId("a".repeat(201)).ok).toBe(false);
    expect(canonicalSkillPattern("Shell.*")).toEqual({ ok: true, value: "shell.*" });
    expect(canonicalSkillPattern(" ＊ ")).toEqual({ ok: true, value: "*" });
    expect(canonicalSkillPattern("a*b").ok).toBe(false);
  });

  it("is idempotent: a canonical value folds to itself", () => {
    for (const value of ["shell.exec", "a_b-c@d:e/f.g", "x"]) expect(canonicalIdentifier(value)).toBe(value);
    for (const spelling of FOLDED_SPELLINGS) {
      const once = canonicalIdentifier(spelling);
      expect(canonicalIdentifier(once)).toBe(once);
    }
  });

  it("takes tenant, agent and principal ids only as written canonically, and says which spelling to send", () => {
    expect(exactIdentifier("acme")).toEqual({ ok: true, value: "acme" });
    const upper = exactIdentifier("Acme");
    expect(upper.ok).toBe(false);
    expect(!upper.ok && upper.reason).toMatch(/lower case/);
    expect(!upper.ok && upper.reason).toContain('"acme"');
    expect(exactIdentifier(" acme").ok).toBe(false);
    expect(exactIdentifier("ａｃｍｅ").ok).toBe(false);
    expect(exactIdentifier("a\u200bcme").ok).toBe(false);
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

describe("tenant, agent and principal ids are refused unless canonical", () => {
  it("eval, filing and usage answer 400 naming the field, with the spelling to send", async () => {
    const agent = await createTestKey("agent");
    const cases: [string, Record<string, unknown>, string][] = [
      ["/api/v1/policy/eval", { skill_id: "a.b", tenant_id: "Acme" }, "tenant_id"],
      ["/api/v1/policy/eval", { skill_id: "a.b", tenant_id: " acme" }, "tenant_id"],
      ["/api/v1/policy/eval", { skill_id: "a.b", tenant_id: "ａｃｍｅ" }, "tenant_id"],
      ["/api/v1/policy/eval", { skill_id: "a.b", tenant_id: "acme", agent_id: "Bot-1" }, "agent_id"],
      [
        REQUESTS,
        { policy_type: "cost", skill_id: "a.b", tenant_id: "acme", requested_by: "Alice" },
        "requested_by",
      ],
      ["/api/v1/policy/usage", { usage_id: "u-1", tenant_id: "ACME", amount_cents: 1 }, "tenant_id"],
    ];
    for (const [path, body, field] of cases) {
      const res = await post(path, body, agent);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(fieldsOf(res.body)).toContain(field);
    }
    const res = await post("/api/v1/policy/eval", { skill_id: "a.b", tenant_id: "Acme" }, agent);
    expect(JSON.stringify(res.body)).toContain('send \\"acme\\"');
  });

  it("a tenant-scoped key cannot reach its tenant's data under another spelling, nor escape its rules", async () => {
    const admin = await createTestKey("admin");
    const tenant = newTenant();
    await denyShell(admin, tenant);
    const scoped = await createTestKey("agent", { tenantId: tenant });
    const res = await post(
      "/api/v1/policy/eval",
      { skill_id: "shell.exec", tenant_id: tenant.toUpperCase() },
      scoped,
    );
    expect(res.status).toBe(400);
  });

  it("the admin API refuses a key whose principal, tenant or agents are not canonical", async () => {
    const admin = await createTestKey("admin");
    const cases: [Record<string, unknown>, string][] = [
      [{ principal_id: "Alice", role: "approver", max_level: 3 }, "principal_id"],
      [{ principal_id: "bot", role: "agent", tenant_id: "Demo" }, "tenant_id"],
      [{ principal_id: "bot", role: "agent", agent_ids: ["Billing-*"] }, "agent_ids"],
    ];
    for (const [body, field] of cases) {
      const res = await post("/api/v1/admin/keys", body, admin);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(res.body)).toContain(field);
    }
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

  it("key creation refuses a non-canonical principal or tenant, and creates nothing", async () => {
    const admin = await createTestKey("admin");
    const { cookie, csrf } = await signIn(admin);
    const principal = `Ops-${crypto.randomUUID().slice(0, 6)}`;
    const forms: Record<string, string>[] = [
      { principal_id: principal, role: "approver", max_level: "3" },
      { principal_id: principal.toLowerCase(), role: "agent", tenant_id: "Demo" },
      { principal_id: principal.toLowerCase(), role: "agent", agent_ids: "Billing-*" },
    ];
    for (const fields of forms) {
      const res = await call("/console/admin/keys", form({ _csrf: csrf, ...fields }, cookie));
      expect(res.status, JSON.stringify(fields)).toBe(400);
    }
    const created = await testSql()`
      SELECT id FROM api_keys WHERE lower(principal_id) = ${principal.toLowerCase()}`;
    expect(created).toHaveLength(0);
  });

  it("the inbox filter folds a skill id and refuses a non-canonical tenant", async () => {
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
    const found = await call(`/console?tenant=${tenant}&skill=VAULT.OPEN`, { headers: { Cookie: cookie } });
    expect(found.status).toBe(200);
    expect(await found.text()).toContain(id);
    const refused = await call(`/console?tenant=${tenant.toUpperCase()}`, { headers: { Cookie: cookie } });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain(`tenant must be written in its one spelling`);
  });
});
