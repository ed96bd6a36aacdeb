// Plans (POST /api/v1/admin/policies/bundle/plan, src/domain/policy-plan.ts): a decision log seeded by
// real evaluations, replayed against a candidate bundle with exact counts, groups and skip reasons; the
// scope, the window and the sample bound what is read; a bundle equal to the live policy changes
// nothing (also as a property over generated policies and calls); bad input is a 400 with paths.
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../src/db/client.ts";
import { loadLivePolicySet } from "../src/db/policy-bundles.ts";
import { evaluate as evaluatePure, type SpendToDate } from "../src/domain/evaluation.ts";
import {
  type BundleApprovalLevel,
  type BundleBudget,
  type BundleCapabilityRule,
  type BundleSkillCost,
  exportScope,
  type FullPolicySet,
  type PolicyBundle,
  stateForCall,
} from "../src/domain/policy-bundle.ts";
import {
  CHANGE_KINDS,
  type LoggedDecision,
  type PlanReport,
  planTally,
  replayDecisions,
  startReplay,
} from "../src/domain/policy-plan.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const PLAN = "/api/v1/admin/policies/bundle/plan";
const EVAL = "/api/v1/policy/eval";

let admin: TestKey;
let agent: TestKey;
let approver: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  agent = await createTestKey("agent");
  approver = await createTestKey("approver");
});

const newTenant = () => `pl-${crypto.randomUUID().slice(0, 8)}`;

async function adminPost(path: string, body: unknown): Promise<void> {
  const res = await postJson(`/api/v1/admin/policies/${path}`, body, admin.headers);
  expect(res.status, await res.clone().text()).toBe(201);
}

/** One real evaluation; its decision id and answer. */
async function evaluate(
  tenant: string,
  skill: string,
  extra: Record<string, unknown> = {},
  key: TestKey = agent,
): Promise<{ decision_id: string; decision: string; approval_level_required: number }> {
  const res = await postJson(
    EVAL,
    { skill_id: skill, tenant_id: tenant, agent_id: "bot-1", payload: { tokens: 100 }, ...extra },
    key.headers,
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { decision_id: string; decision: string; approval_level_required: number };
}

async function plan(body: unknown, key: TestKey = admin): Promise<{ status: number; body: PlanReport }> {
  const res = await postJson(PLAN, body, key.headers);
  return { status: res.status, body: (await res.json()) as PlanReport };
}

function issuePaths(body: unknown): string[] {
  const details = (body as ErrorEnvelope).error.details as { issues?: { path: string }[] } | undefined;
  return (details?.issues ?? []).map((issue) => issue.path);
}

async function liveExport(scope: string): Promise<PolicyBundle> {
  return exportScope((await loadLivePolicySet(createDb(testEnv()))).set, scope);
}

const rule = (tenant: string, pattern: string, effect: string, level?: string) => ({
  tenant_id: tenant,
  skill_pattern: pattern,
  effect,
  ...(level ? { approval_level: level } : {}),
});

describe("a plan over a seeded decision log", () => {
  const tenant = newTenant();
  const other = newTenant();
  const ids: Record<string, string[]> = {};
  let before: Date;

  beforeAll(async () => {
    before = new Date(Date.now() - 1000);
    await adminPost("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "auto_approve",
    });
    await adminPost("capability-rules", rule(tenant, "shell.*", "deny"));
    await adminPost("capability-rules", rule(tenant, "files.*", "require_approval", "agent_approve"));
    const seed = async (name: string, skill: string, times: number, expected: string, level?: number) => {
      ids[name] = [];
      for (let i = 0; i < times; i += 1) {
        const answer = await evaluate(tenant, skill);
        expect(answer.decision).toBe(expected);
        if (level !== undefined) expect(answer.approval_level_required).toBe(level);
        ids[name]?.push(answer.decision_id);
      }
    };
    await seed("search", "search.web", 3, "allow");
    await seed("older", "search.web", 2, "allow");
    await seed("shell", "shell.exec", 2, "deny");
    await seed("files", "files.read", 2, "requires_approval", 3);
    await seed("email", "email.send", 1, "allow");
    await seed("calc", "calc.add", 1, "allow");
    // A what-if evaluation (admin overrides): logged, never replayed.
    const whatIf = await evaluate(tenant, "search.web", { policy_overrides: { budgets: [] } }, admin);
    ids.overrides = [whatIf.decision_id];
    // Rows from before the replay inputs were kept.
    await testSql().query(
      "UPDATE policy_decisions SET tokens = NULL, simulate_cost = NULL, spend = NULL WHERE id = ANY($1)",
      [ids.older],
    );
    // The live policy moves after calc.add was answered: its logged allow is now a deny (drift).
    await adminPost("capability-rules", rule(tenant, "calc.*", "deny"));
    // Another tenant's traffic, which a bundle of `tenant` never reads.
    await evaluate(other, "search.web");
  });

  const candidate = (): PolicyBundle =>
    ({
      format: "policy-bundle/v1",
      scope: tenant,
      capability_rules: [
        rule(tenant, "search.*", "deny"),
        rule(tenant, "shell.*", "allow"),
        rule(tenant, "files.*", "require_approval", "manual_approve"),
        rule(tenant, "email.*", "require_approval"),
        rule(tenant, "calc.*", "deny"),
      ],
    }) as PolicyBundle;

  it("counts every change, skip and drift exactly, grouped by tenant and skill with examples", async () => {
    const sent = await plan({ bundle: candidate(), examples_per_group: 2 });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const report = sent.body;
    expect(report.scope).toBe(tenant);
    expect(report.sample).toEqual({ limit: 10_000, rows: 12, limited: false });
    expect(report.replayed).toBe(9);
    expect(report.skipped).toEqual({ overrides_used: 1, no_replay_inputs: 2, out_of_scope: 0 });
    expect(report.drifted).toBe(1);
    expect(report.changed).toBe(8);
    expect(report.truncated).toBe(false);
    expect(report.totals).toEqual({
      allow_to_deny: 3,
      allow_to_requires_approval: 1,
      requires_approval_to_allow: 0,
      requires_approval_to_deny: 0,
      deny_to_allow: 2,
      deny_to_requires_approval: 0,
      level_up: 2,
      level_down: 0,
    });
    expect(
      report.changes.map(({ tenant_id, skill_id, change, count }) => [tenant_id, skill_id, change, count]),
    ).toEqual([
      [tenant, "search.web", "allow_to_deny", 3],
      [tenant, "files.read", "level_up", 2],
      [tenant, "shell.exec", "deny_to_allow", 2],
      [tenant, "email.send", "allow_to_requires_approval", 1],
    ]);
    const [search, files, , email] = report.changes;
    // The newest rows first, at most examples_per_group of them.
    expect(search?.examples.map((example) => example.decision_id)).toEqual(ids.search?.slice(1).reverse());
    expect(search?.examples[0]).toMatchObject({
      agent_id: "bot-1",
      before: { decision: "allow", approval_level_required: 1 },
      after: { decision: "deny" },
    });
    expect(search?.examples[0]?.after.reasons.join(" ")).toContain("search.*");
    expect(files?.examples[0]).toMatchObject({
      before: { decision: "requires_approval", approval_level_required: 3 },
      after: { decision: "requires_approval", approval_level_required: 4 },
    });
    expect(email?.examples[0]?.after).toMatchObject({
      decision: "requires_approval",
      approval_level_required: 3,
    });
    // The answer names the live scope it was planned on.
    expect(report.base_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(report.bundle_sha256).not.toBe(report.base_sha256);
  });

  it("a bundle equal to the live scope changes nothing, and its hash is the base", async () => {
    const report = (await plan({ bundle: await liveExport(tenant) })).body;
    expect(report.replayed).toBe(9);
    expect(report.changed).toBe(0);
    expect(report.changes).toEqual([]);
    expect(Object.values(report.totals).every((count) => count === 0)).toBe(true);
    expect(report.bundle_sha256).toBe(report.base_sha256);
  });

  it("a tenant's bundle reads and changes only that tenant's decisions", async () => {
    const mine = (await plan({ bundle: candidate() })).body;
    expect(mine.changes.every((group) => group.tenant_id === tenant)).toBe(true);
    const theirs = (
      await plan({
        bundle: { format: "policy-bundle/v1", scope: other, capability_rules: [rule(other, "*", "deny")] },
      })
    ).body;
    expect(theirs.sample.rows).toBe(1);
    expect(theirs.replayed).toBe(1);
    expect(theirs.changes).toEqual([
      expect.objectContaining({
        tenant_id: other,
        skill_id: "search.web",
        change: "requires_approval_to_deny",
        count: 1,
      }),
    ]);
  });

  it("the sample limit keeps the newest rows and says the window held more", async () => {
    const report = (await plan({ bundle: candidate(), sample: 4 })).body;
    expect(report.sample).toEqual({ limit: 4, rows: 4, limited: true });
    // The four newest: calc.add (a drift, no change), the what-if row, email.send and a files.read.
    expect(report.skipped.overrides_used).toBe(1);
    expect(report.replayed).toBe(3);
    expect(report.totals.allow_to_requires_approval).toBe(1);
    expect(report.totals.level_up).toBe(1);
  });

  it("the window bounds what is read", async () => {
    const empty = (await plan({ bundle: candidate(), until: before.toISOString() })).body;
    expect(empty.window.until).toBe(before.toISOString());
    expect(empty.sample.rows).toBe(0);
    expect(empty.replayed).toBe(0);
    expect(empty.changed).toBe(0);
    const since = new Date(before.getTime() - 60_000).toISOString();
    const all = (await plan({ bundle: candidate(), since })).body;
    expect(all.window.since).toBe(since);
    expect(all.sample.rows).toBe(12);
  });

  it("a replay past its deadline stops and says truncated", async () => {
    // One millisecond: the database read alone takes longer, so nothing is replayed.
    const report = (await plan({ bundle: candidate(), time_limit_ms: 1 })).body;
    expect(report.truncated).toBe(true);
    expect(report.replayed).toBe(0);
    expect(report.sample.rows).toBe(12);
  });
});

describe("a plan replays the logged spend and cost switch, not today's", () => {
  it("a budget the bundle adds denies only the calls whose logged spend it would have exceeded", async () => {
    const tenant = newTenant();
    await adminPost("approval-levels", {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "auto_approve",
    });
    const early = await evaluate(tenant, "search.web");
    const usage = await postJson(
      "/api/v1/policy/usage",
      {
        usage_id: `u-${crypto.randomUUID()}`,
        tenant_id: tenant,
        amount_cents: 500,
        occurred_at: new Date().toISOString(),
      },
      agent.headers,
    );
    expect(usage.status, await usage.clone().text()).toBe(201);
    const late = await evaluate(tenant, "search.web");
    const unsimulated = await evaluate(tenant, "search.web", { simulate_cost: false });
    expect([early.decision, late.decision, unsimulated.decision]).toEqual(["allow", "allow", "allow"]);
    const report = (
      await plan({
        bundle: {
          format: "policy-bundle/v1",
          scope: tenant,
          budgets: [{ tenant_id: tenant, period: "day", limit_cents: 200, enforcement: "hard" }],
        },
      })
    ).body;
    expect(report.replayed).toBe(3);
    expect(report.drifted).toBe(0);
    // 0 spent + the call's cost is within 200; 500 spent is not; no simulated cost, no budget check.
    expect(report.changes).toEqual([
      expect.objectContaining({ skill_id: "search.web", change: "allow_to_deny", count: 1 }),
    ]);
    expect(report.changes[0]?.examples.map((example) => example.decision_id)).toEqual([late.decision_id]);
  });
});

describe("who may plan, and bad input", () => {
  const bundle = { format: "policy-bundle/v1", scope: "acme", capability_rules: [] };

  it("only admin keys: agents and approvers get 403, no key 401", async () => {
    expect((await plan({ bundle }, agent)).status).toBe(403);
    expect((await plan({ bundle }, approver)).status).toBe(403);
    const res = await postJson(PLAN, { bundle });
    expect(res.status).toBe(401);
  });

  it("a malformed bundle or window is a 400 naming each path, never a 500", async () => {
    const cases: [unknown, string[]][] = [
      [{}, ["bundle"]],
      [{ bundle: { ...bundle, format: "v0" } }, ["bundle.format"]],
      [
        {
          bundle: {
            ...bundle,
            capability_rules: [{ tenant_id: "acme", skill_pattern: "a.*", effect: "maybe" }],
          },
        },
        ["bundle.capability_rules.0.effect"],
      ],
      [
        {
          bundle: {
            ...bundle,
            capability_rules: [{ tenant_id: "other", skill_pattern: "a.*", effect: "deny" }],
          },
        },
        ["bundle.capability_rules.0.tenant_id"],
      ],
      [
        {
          bundle: { ...bundle, settings: { capability_default_effect: "deny", unknown_skill_cost_cents: 5 } },
        },
        ["bundle.settings"],
      ],
      [{ bundle, since: "2026-01-02T00:00:00Z", until: "2026-01-01T00:00:00Z" }, ["since"]],
      [{ bundle, since: "yesterday" }, ["since"]],
      [{ bundle, sample: 0 }, ["sample"]],
      [{ bundle, sample: 50_001 }, ["sample"]],
      [{ bundle, examples_per_group: -1 }, ["examples_per_group"]],
      [{ bundle, time_limit_ms: 60_000 }, ["time_limit_ms"]],
      [{ bundle, extra: true }, [""]],
      [[], [""]],
    ];
    for (const [body, paths] of cases) {
      const sent = await plan(body);
      expect(sent.status, JSON.stringify(body)).toBe(400);
      expect((sent.body as unknown as ErrorEnvelope).error.code).toBe("validation_failed");
      for (const path of paths) expect(issuePaths(sent.body), JSON.stringify(body)).toContain(path);
    }
    const broken = await call(PLAN, {
      method: "POST",
      headers: { ...admin.headers, "Content-Type": "application/json" },
      body: '{"bundle": ',
    });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as ErrorEnvelope).error.code).toBe("malformed_json");
  });
});

// ---------------------------------------------------------------------------------------------------
// The property: whatever the policy and the traffic, replaying the live policy's own export changes
// nothing. A small generator over a seeded PRNG (mulberry32), so a failure names a reproducible seed.

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generated(seed: number): { live: FullPolicySet; decisions: LoggedDecision[] } {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const int = (max: number) => Math.floor(random() * (max + 1));
  const tenants = ["a", "b", "c"];
  const agents = [null, "x", "y"];
  const skills = ["s.one", "s.two", "t.one", "u"];
  const levels = ["auto_approve", "pre_approved", "agent_approve", "manual_approve", "owner_override"];
  const approval_levels = new Map<string, BundleApprovalLevel>();
  for (let i = int(6); i > 0; i -= 1) {
    const row: BundleApprovalLevel = {
      policy_type: pick(["cost", "capability", "resource"] as const),
      tenant_id: pick([null, ...tenants]),
      agent_id: pick(agents),
      skill_id: pick([null, ...skills]),
      approval_level: pick(levels),
      auto_approve_max_cost_cents: int(60),
      auto_approve_max_tokens: int(2000),
      escalate_to: null,
      escalation_timeout_seconds: 300,
      escalation_chain: [],
      required_approvals: 1,
      enabled: random() < 0.9,
    };
    approval_levels.set(JSON.stringify([row.policy_type, row.tenant_id, row.agent_id, row.skill_id]), row);
  }
  const capability_rules = new Map<string, BundleCapabilityRule>();
  for (let i = int(8); i > 0; i -= 1) {
    const row: BundleCapabilityRule = {
      tenant_id: pick(tenants),
      agent_id: pick(agents),
      skill_pattern: pick(["*", "s.*", "t.*", ...skills]),
      effect: pick(["allow", "deny", "require_approval"] as const),
      approval_level: pick([null, ...levels]),
      description: null,
      enabled: random() < 0.9,
    };
    capability_rules.set(JSON.stringify([row.tenant_id, row.agent_id, row.skill_pattern]), row);
  }
  const budgets = new Map<string, BundleBudget>();
  for (let i = int(4); i > 0; i -= 1) {
    const row: BundleBudget = {
      tenant_id: pick(tenants),
      agent_id: pick(agents),
      period: pick(["day", "month"] as const),
      limit_cents: int(500),
      enforcement: pick(["hard", "soft"] as const),
      enabled: true,
    };
    budgets.set(JSON.stringify([row.tenant_id, row.agent_id, row.period]), row);
  }
  const skill_costs: BundleSkillCost[] = skills
    .filter(() => random() < 0.5)
    .map((skill_id) => ({ skill_id, base_cents: int(30), cents_per_1k_tokens: int(50), description: null }));
  const live: FullPolicySet = {
    settings: {
      capability_default_effect: pick(["allow", "deny", "require_approval"] as const),
      unknown_skill_cost_cents: int(40),
    },
    skill_costs,
    approval_levels: [...approval_levels.values()],
    capability_rules: [...capability_rules.values()],
    budgets: [...budgets.values()],
  };
  const decisions: LoggedDecision[] = Array.from({ length: 40 }, (_, i) => {
    const spend: SpendToDate = {
      tenantDay: int(400),
      tenantMonth: int(800),
      agentDay: int(300),
      agentMonth: int(600),
    };
    return {
      id: `dec_${seed}_${i}`,
      tenant_id: pick(tenants),
      agent_id: pick(agents),
      skill_id: pick(skills),
      policy_type: pick(["cost", "capability", "resource"] as const),
      decision: pick(["allow", "deny", "requires_approval"] as const),
      approval_level_required: 1 + int(4),
      overrides_used: random() < 0.1,
      tokens: random() < 0.1 ? null : int(3000),
      simulate_cost: random() < 0.8,
      spend,
      created_at: new Date(1_700_000_000_000 - i * 1000).toISOString(),
    };
  });
  return { live, decisions };
}

describe("property: the live policy's own bundle never changes an answer", () => {
  it("holds for 200 generated policies and their traffic, in every scope", () => {
    for (let seed = 1; seed <= 200; seed += 1) {
      const { live, decisions } = generated(seed);
      for (const scope of ["*", "a", "b"]) {
        const exported = exportScope(live, scope);
        // Rows in another order are the same bundle.
        const shuffled: PolicyBundle = {
          ...exported,
          capability_rules: [...(exported.capability_rules ?? [])].reverse(),
        };
        const replay = startReplay(live, shuffled, 1);
        replayDecisions(replay, decisions);
        const tally = planTally(replay);
        const context = `seed ${seed}, scope ${scope}`;
        expect(tally.changed, context).toBe(0);
        expect(tally.changes, context).toEqual([]);
        expect(
          CHANGE_KINDS.every((kind) => tally.totals[kind] === 0),
          context,
        ).toBe(true);
        const counted = tally.replayed + Object.values(tally.skipped).reduce((sum, n) => sum + n, 0);
        expect(counted, context).toBe(decisions.length);
      }
    }
  });

  it("and a changed bundle is seen: deny-everything turns every other answer of its tenant into a deny", () => {
    const { live, decisions } = generated(7);
    const replay = startReplay(
      live,
      { format: "policy-bundle/v1", scope: "a", capability_rules: [{ ...denyAll, tenant_id: "a" }] },
      0,
    );
    replayDecisions(replay, decisions);
    const tally = planTally(replay);
    // Every replayed call of tenant a whose live answer was not a deny is now one.
    const notDenied = decisions.filter((row) => {
      if (row.tenant_id !== "a" || row.overrides_used || row.tokens === null || row.spend === null)
        return false;
      const call = {
        skillId: row.skill_id,
        tenantId: row.tenant_id,
        agentId: row.agent_id,
        policyType: row.policy_type,
        payload: { tokens: row.tokens },
        simulateCost: row.simulate_cost ?? true,
      };
      return evaluatePure(call, stateForCall(live, call, row.spend)).decision !== "deny";
    }).length;
    expect(notDenied).toBeGreaterThan(0);
    expect(tally.changed).toBe(notDenied);
    expect(tally.totals.allow_to_deny + tally.totals.requires_approval_to_deny).toBe(notDenied);
    expect(tally.changes.every((group) => group.tenant_id === "a" && group.examples.length === 0)).toBe(true);
    expect(tally.skipped.out_of_scope).toBe(decisions.filter((row) => row.tenant_id !== "a").length);
  });
});

const denyAll: BundleCapabilityRule = {
  tenant_id: "a",
  agent_id: null,
  skill_pattern: "*",
  effect: "deny",
  approval_level: null,
  description: null,
  enabled: true,
};
