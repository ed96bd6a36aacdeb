// Policy bundles (src/domain/policy-bundle.ts, src/schemas/policy-bundles.ts, src/db/policy-bundles.ts):
// the whole-bundle rules with their paths, and the live policy set read whole, exported per scope,
// parsed back unchanged, and applied in memory as the identity.
import { describe, expect, it } from "vitest";
import { createDb } from "../src/db/client.ts";
import { loadLivePolicySet } from "../src/db/policy-bundles.ts";
import {
  bundleProblems,
  bundleSha256,
  canonicalBundle,
  diffBundle,
  diffIsEmpty,
  exportScope,
  type PolicyBundle,
  stateForCall,
  withBundle,
} from "../src/domain/policy-bundle.ts";
import { PolicyBundleSchema } from "../src/schemas/policy-bundles.ts";
import { testEnv, testSql } from "./helpers/database.ts";

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;

describe("bundle rules", () => {
  it("names each problem by its path: scope, shared sections, duplicate keys", () => {
    const bundle: PolicyBundle = {
      format: "policy-bundle/v1",
      scope: "acme",
      settings: { capability_default_effect: "deny", unknown_skill_cost_cents: 5 },
      capability_rules: [
        rule("acme", "email.*", "allow"),
        rule("other", "shell.*", "deny"),
        rule("acme", "email.*", "deny"),
      ],
    };
    expect(bundleProblems(bundle).map((problem) => problem.path)).toEqual([
      "settings",
      "capability_rules[1].tenant_id",
      "capability_rules[2]",
    ]);
  });

  it("a malformed bundle fails its schema with a path per problem, nested ones included", () => {
    const parsed = PolicyBundleSchema.safeParse({
      format: "policy-bundle/v1",
      scope: "acme",
      capability_rules: [{ tenant_id: "acme", skill_pattern: "email.*", effect: "maybe" }],
      budgets: [
        { tenant_id: "acme", period: "day", limit_cents: 100 },
        { tenant_id: "acme", period: "day", limit_cents: 200 },
      ],
    });
    expect(parsed.success).toBe(false);
    const paths = parsed.error?.issues.map((issue) => issue.path.join(".")) ?? [];
    expect(paths).toContain("capability_rules.0.effect");
    // The whole-bundle rules run only on a bundle whose rows parse: fix the rows first.
    const rowsFixed = PolicyBundleSchema.safeParse({
      format: "policy-bundle/v1",
      scope: "acme",
      budgets: [
        { tenant_id: "acme", period: "day", limit_cents: 100 },
        { tenant_id: "acme", period: "day", limit_cents: 200 },
      ],
    });
    expect(rowsFixed.error?.issues.map((issue) => issue.path.join("."))).toEqual(["budgets.1"]);
  });
});

describe("the live policy set as bundles", () => {
  it("exports a scope that parses back to itself and applies as the identity", async () => {
    const tenant = newTenant();
    const sql = testSql();
    await sql`INSERT INTO capability_rules (tenant_id, agent_id, skill_pattern, effect, approval_level, description)
      VALUES (${tenant}, NULL, 'payments.*', 'require_approval', 'manual_approve', 'money moves'),
             (${tenant}, 'bot-1', 'shell.*', 'deny', NULL, NULL)`;
    await sql`INSERT INTO budgets (tenant_id, agent_id, period, limit_cents, enforcement)
      VALUES (${tenant}, NULL, 'day', 5000, 'soft')`;
    await sql`INSERT INTO policy_approval_levels (policy_type, tenant_id, skill_id, approval_level, escalation_chain)
      VALUES ('cost', ${tenant}, 'payments.transfer', 'manual_approve', '[{"escalate_to":"cfo","after_seconds":600}]')`;

    const live = await loadLivePolicySet(createDb(testEnv()));
    const exported = exportScope(live.set, tenant);
    expect(exported.capability_rules).toHaveLength(2);
    expect(exported.budgets).toEqual([
      {
        tenant_id: tenant,
        agent_id: null,
        period: "day",
        limit_cents: 5000,
        enforcement: "soft",
        enabled: true,
      },
    ]);
    expect(exported.approval_levels?.[0]?.escalation_chain).toEqual([
      { escalate_to: "cfo", after_seconds: 600 },
    ]);
    expect(exported.settings).toBeUndefined();

    const parsed = PolicyBundleSchema.parse(JSON.parse(JSON.stringify(exported)));
    expect(canonicalBundle(parsed)).toEqual(canonicalBundle(exported));
    expect(await bundleSha256(parsed)).toBe(await bundleSha256(exported));
    expect(diffIsEmpty(diffBundle(live.set, parsed))).toBe(true);
    expect(canonicalBundle({ ...exportScope(withBundle(live.set, parsed), "*") })).toEqual(
      canonicalBundle(exportScope(live.set, "*")),
    );

    // The whole set exports with the shared sections too, and parses.
    const everything = exportScope(live.set, "*");
    expect(everything.settings).toBeDefined();
    expect(PolicyBundleSchema.safeParse(JSON.parse(JSON.stringify(everything))).success).toBe(true);
  });

  it("a changed bundle diffs row by row and evaluates with its rows in place of the scope's", async () => {
    const tenant = newTenant();
    await testSql()`INSERT INTO capability_rules (tenant_id, skill_pattern, effect) VALUES (${tenant}, 'email.*', 'allow')`;
    const live = await loadLivePolicySet(createDb(testEnv()));
    const candidate: PolicyBundle = {
      ...exportScope(live.set, tenant),
      capability_rules: [rule(tenant, "email.*", "deny"), rule(tenant, "shell.*", "deny")],
    };
    const diff = diffBundle(live.set, candidate);
    expect(diff.capability_rules.added.map((row) => row.skill_pattern)).toEqual(["shell.*"]);
    expect(diff.capability_rules.changed.map((change) => change.after.effect)).toEqual(["deny"]);
    expect(diff.capability_rules.removed).toEqual([]);
    const spend = { tenantDay: 0, tenantMonth: 0, agentDay: 0, agentMonth: 0 };
    const call = { tenantId: tenant, skillId: "email.send", policyType: "capability" as const };
    expect(stateForCall(withBundle(live.set, candidate), call, spend).capabilityRules).toEqual([
      expect.objectContaining({ skillPattern: "email.*", effect: "deny" }),
      expect.objectContaining({ skillPattern: "shell.*", effect: "deny" }),
    ]);
    // Other tenants' rules are untouched by a tenant bundle.
    const others = withBundle(live.set, candidate).capability_rules.filter((row) => row.tenant_id !== tenant);
    expect(others).toEqual(live.set.capability_rules.filter((row) => row.tenant_id !== tenant));
  });
});

function rule(tenant: string, pattern: string, effect: "allow" | "deny" | "require_approval") {
  return {
    tenant_id: tenant,
    agent_id: null,
    skill_pattern: pattern,
    effect,
    approval_level: null,
    description: null,
    enabled: true,
  };
}
