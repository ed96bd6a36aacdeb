// Candidate policy bundles and shadow mode (issue 29): the candidates API (src/routes/policy-candidates.ts)
// with its audit rows, refusals and the one-shadow-per-scope rule under a race; and shadow evaluation on
// the live hot path (src/services/shadow.ts): it never changes an answer (a seeded property test over
// generated policies and calls), it records what evaluating the candidate directly answers, it costs no
// extra statement once the candidate is cached, and a candidate that fails leaves the live answer alone.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { and, eq, inArray } from "drizzle-orm";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createDb } from "../src/db/client.ts";
import { loadLivePolicySet } from "../src/db/policy-bundles.ts";
import { auditEvents, policyDecisions } from "../src/db/schema.ts";
import { evaluate as evaluateLocally } from "../src/domain/evaluation.ts";
import {
  type BundleApprovalLevel,
  type BundleBudget,
  type BundleCapabilityRule,
  bundleSha256,
  exportScope,
  type PolicyBundle,
  stateForCall,
  withBundle,
} from "../src/domain/policy-bundle.ts";
import {
  BUDGET_ENFORCEMENTS,
  BUDGET_PERIODS,
  CAPABILITY_EFFECTS,
  LEVEL_NAMES,
  POLICY_TYPES,
  type PolicyType,
} from "../src/domain/vocabulary.ts";
import type { Bindings } from "../src/env.ts";
import worker from "../src/index.ts";
import type { DecisionLogMessage } from "../src/services/context.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";

const CANDIDATES = "/api/v1/admin/policies/candidates";
const EVAL = "/api/v1/policy/eval";

type Row = Record<string, unknown>;
interface Sent {
  status: number;
  requestId: string | null;
  body: Row;
}

let admin: TestKey;
let approver: TestKey;
let agent: TestKey;
beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "ops-shadow-admin" });
  approver = await createTestKey("approver");
  agent = await createTestKey("agent");
});

afterEach(() => {
  vi.restoreAllMocks();
});

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;
const db = () => createDb(testEnv());

async function send(
  method: string,
  path: string,
  body?: unknown,
  key: TestKey = admin,
  env: Record<string, unknown> = {},
): Promise<Sent> {
  const res = await call(
    path,
    {
      method,
      headers: body === undefined ? key.headers : { ...key.headers, "Content-Type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    },
    env,
  );
  return { status: res.status, requestId: res.headers.get("x-request-id"), body: (await res.json()) as Row };
}

const errorOf = (sent: Sent) => (sent.body as unknown as ErrorEnvelope).error;
const issuePaths = (sent: Sent) =>
  ((errorOf(sent).details as { issues?: { path: string }[] } | undefined)?.issues ?? []).map((i) => i.path);

function tenantBundle(tenant: string, rules: Partial<BundleCapabilityRule>[]): PolicyBundle {
  return {
    format: "policy-bundle/v1",
    scope: tenant,
    capability_rules: rules.map((rule) => ({
      tenant_id: tenant,
      agent_id: null,
      skill_pattern: "*",
      effect: "allow",
      approval_level: null,
      description: null,
      enabled: true,
      ...rule,
    })),
  };
}

async function createCandidate(bundle: PolicyBundle, description?: string): Promise<Row> {
  const sent = await send("POST", CANDIDATES, { bundle, ...(description ? { description } : {}) });
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
  return sent.body;
}

async function setShadow(id: string, shadow: boolean): Promise<Sent> {
  return send("PATCH", `${CANDIDATES}/${id}`, { shadow });
}

async function shadowOn(bundle: PolicyBundle): Promise<string> {
  const candidate = await createCandidate(bundle);
  const sent = await setShadow(String(candidate.id), true);
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  return String(candidate.id);
}

interface EvalBody {
  skill_id: string;
  tenant_id: string;
  agent_id?: string | null;
  policy_type?: PolicyType;
  payload: Row;
  simulate_cost?: boolean;
}

async function evaluateCall(body: EvalBody, env: Record<string, unknown> = {}): Promise<Row> {
  const sent = await send("POST", EVAL, body, admin, env);
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  return sent.body;
}

async function decisionRow(id: unknown) {
  const [row] = await db()
    .select()
    .from(policyDecisions)
    .where(eq(policyDecisions.id, String(id)));
  if (!row) throw new Error(`decision ${String(id)} was not logged`);
  return row;
}

/** What a caller was told, without what differs on every call (id, time, when the policy was read). */
function answerOf(body: Row) {
  const { decision_id: _id, timestamp: _at, explanation, ...rest } = body;
  const { policy_read_at: _read, ...explained } = (explanation ?? {}) as Row;
  return { ...rest, explanation: explained };
}

describe("candidates API", () => {
  it("stores a candidate: canonical bundle, its hash, the live scope's hash, shadow off, the creator", async () => {
    const tenant = newTenant();
    await testSql()`INSERT INTO capability_rules (tenant_id, skill_pattern, effect) VALUES (${tenant}, 'shell.*', 'deny')`;
    const bundle = tenantBundle(tenant, [
      { skill_pattern: "zeta.*", effect: "deny" },
      { skill_pattern: "alpha.*", effect: "require_approval", approval_level: "manual_approve" },
    ]);
    const created = await createCandidate(bundle, "tighten alpha");
    expect(created.id).toMatch(/^pcd_[0-9a-f]{16}$/);
    expect(created).toMatchObject({
      scope: tenant,
      shadow: false,
      created_by: "ops-shadow-admin",
      description: "tighten alpha",
    });
    const stored = created.bundle as PolicyBundle;
    // Canonical: rows in key order, whatever order they were sent in.
    expect(stored.capability_rules?.map((rule) => rule.skill_pattern)).toEqual(["alpha.*", "zeta.*"]);
    expect(created.bundle_sha256).toBe(await bundleSha256(bundle));
    const live = await loadLivePolicySet(db());
    expect(created.base_sha256).toBe(await bundleSha256(exportScope(live.set, tenant)));
    expect(Date.parse(String(created.created_at))).not.toBeNaN();

    const read = await send("GET", `${CANDIDATES}/${created.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created);
    const listed = await send("GET", `${CANDIDATES}?scope=${tenant}`);
    expect(listed.status).toBe(200);
    expect((listed.body as unknown as Row[]).map((row) => row.id)).toEqual([created.id]);
  });

  it("refuses a malformed bundle with the path of each problem, and malformed bodies and ids", async () => {
    const tenant = newTenant();
    const wrongRows = await send("POST", CANDIDATES, {
      bundle: {
        format: "policy-bundle/v1",
        scope: tenant,
        capability_rules: [{ tenant_id: tenant, skill_pattern: "email.*", effect: "maybe" }],
      },
    });
    expect(wrongRows.status).toBe(400);
    expect(errorOf(wrongRows).code).toBe("validation_failed");
    expect(issuePaths(wrongRows)).toContain("bundle.capability_rules.0.effect");

    const wrongScope = await send("POST", CANDIDATES, {
      bundle: {
        format: "policy-bundle/v1",
        scope: tenant,
        settings: { capability_default_effect: "deny", unknown_skill_cost_cents: 0 },
        budgets: [{ tenant_id: "someone-else", period: "day", limit_cents: 1 }],
      },
    });
    expect(wrongScope.status).toBe(400);
    expect(issuePaths(wrongScope)).toEqual(
      expect.arrayContaining(["bundle.settings", "bundle.budgets.0.tenant_id"]),
    );

    for (const body of [
      {},
      { bundle: null },
      { bundle: { format: "policy-bundle/v2", scope: tenant } },
      { bundle: { format: "policy-bundle/v1", scope: tenant }, extra: 1 },
      { bundle: { format: "policy-bundle/v1", scope: tenant }, description: 5 },
      "[1, 2",
      "[]",
    ]) {
      const sent = await send("POST", CANDIDATES, body);
      expect(sent.status, JSON.stringify(body)).toBe(400);
      expect(["validation_failed", "malformed_json"]).toContain(errorOf(sent).code);
    }

    const id = String((await createCandidate(tenantBundle(tenant, []))).id);
    for (const body of [{}, { shadow: "yes" }, { shadow: true, scope: "*" }, "null"]) {
      const sent = await send("PATCH", `${CANDIDATES}/${id}`, body);
      expect(sent.status, JSON.stringify(body)).toBe(400);
    }
    const badId = await send("GET", `${CANDIDATES}/pcd_nothex`);
    expect(badId.status).toBe(400);
    expect(issuePaths(badId)).toEqual(["id"]);
    const badLimit = await send("GET", `${CANDIDATES}/${id}/disagreements?limit=0`);
    expect(badLimit.status).toBe(400);
  });

  it("answers 404 for an unknown candidate on every route", async () => {
    const unknown = "pcd_0000000000000000";
    for (const [method, path, body] of [
      ["GET", `${CANDIDATES}/${unknown}`, undefined],
      ["PATCH", `${CANDIDATES}/${unknown}`, { shadow: true }],
      ["DELETE", `${CANDIDATES}/${unknown}`, undefined],
      ["GET", `${CANDIDATES}/${unknown}/disagreements`, undefined],
    ] as const) {
      const sent = await send(method, path, body);
      expect(sent.status, `${method} ${path}`).toBe(404);
      expect(errorOf(sent).code).toBe("not_found");
    }
  });

  it("refuses approver and agent keys on every route (403), and no key at all (401)", async () => {
    const id = String((await createCandidate(tenantBundle(newTenant(), []))).id);
    const routes = [
      ["POST", CANDIDATES, { bundle: tenantBundle(newTenant(), []) }],
      ["GET", CANDIDATES, undefined],
      ["GET", `${CANDIDATES}/${id}`, undefined],
      ["PATCH", `${CANDIDATES}/${id}`, { shadow: true }],
      ["DELETE", `${CANDIDATES}/${id}`, undefined],
      ["GET", `${CANDIDATES}/${id}/disagreements`, undefined],
    ] as const;
    for (const key of [approver, agent]) {
      for (const [method, path, body] of routes) {
        const sent = await send(method, path, body, key);
        expect(sent.status, `${method} ${path}`).toBe(403);
        expect(errorOf(sent).code).toBe("forbidden");
      }
    }
    const anonymous = await call(CANDIDATES);
    expect(anonymous.status).toBe(401);
    // Nothing a refused key sent changed anything.
    const after = await send("GET", `${CANDIDATES}/${id}`);
    expect(after.body.shadow).toBe(false);
  });

  it("one candidate shadows a scope: a second is a 409 naming the first; off, then the second may", async () => {
    const tenant = newTenant();
    const first = await shadowOn(tenantBundle(tenant, []));
    const second = String((await createCandidate(tenantBundle(tenant, [{ effect: "deny" }]))).id);
    const refused = await setShadow(second, true);
    expect(refused.status).toBe(409);
    expect(errorOf(refused).code).toBe("conflict");
    expect(errorOf(refused).message).toContain(first);
    expect(errorOf(refused).details).toEqual({ shadowing_candidate_id: first });
    // Turning an already shadowing candidate on again is no change, not a conflict.
    expect((await setShadow(first, true)).status).toBe(200);
    expect((await setShadow(first, false)).body.shadow).toBe(false);
    expect((await setShadow(second, true)).body.shadow).toBe(true);
    // Other scopes are independent.
    await shadowOn(tenantBundle(newTenant(), []));
  });

  it("under a race of two PATCHes for one scope, exactly one candidate shadows", async () => {
    for (let round = 0; round < 3; round++) {
      const tenant = newTenant();
      const ids = await Promise.all(
        [1, 2].map(async () => String((await createCandidate(tenantBundle(tenant, []))).id)),
      );
      const answers = await Promise.all(ids.map((id) => setShadow(id, true)));
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
      const rows = await testSql()`SELECT id FROM policy_candidates WHERE scope = ${tenant} AND shadow`;
      expect(rows).toHaveLength(1);
      const winner = ids[answers.findIndex((answer) => answer.status === 200)];
      expect(rows[0]?.id).toBe(winner);
    }
  });

  it("audits every change with the actor, the key and the request", async () => {
    const tenant = newTenant();
    const created = await send("POST", CANDIDATES, { bundle: tenantBundle(tenant, []), description: "x" });
    const id = String(created.body.id);
    const on = await setShadow(id, true);
    const off = await setShadow(id, false);
    const noChange = await setShadow(id, false);
    const removed = await send("DELETE", `${CANDIDATES}/${id}`);
    expect(removed.status).toBe(200);
    expect((await send("GET", `${CANDIDATES}/${id}`)).status).toBe(404);
    expect((await send("DELETE", `${CANDIDATES}/${id}`)).status).toBe(404);

    const rows = await db()
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.targetType, "policy_candidate"), eq(auditEvents.targetId, id)))
      .orderBy(auditEvents.id);
    expect(rows.map((row) => [row.action, row.requestId])).toEqual([
      ["policy_candidate.create", created.requestId],
      ["policy_candidate.shadow_on", on.requestId],
      ["policy_candidate.shadow_off", off.requestId],
      ["policy_candidate.delete", removed.requestId],
    ]);
    expect(noChange.status).toBe(200);
    for (const row of rows) {
      expect(row.actor).toBe("ops-shadow-admin");
      expect(row.actorKeyId).toBe(admin.keyId);
    }
    expect(rows[0]?.after).toMatchObject({ id, scope: tenant, shadow: false, description: "x" });
    expect(rows[1]?.after).toMatchObject({ shadow: true });
    expect(rows[3]?.before).toMatchObject({ id, shadow: false });
    expect(rows[3]?.after).toBeNull();
  });
});

// A small seeded PRNG (mulberry32): the same cases on every run, no new package.
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const chance = (p: number) => next() < p;
  return { int, pick, chance };
}
type Rng = ReturnType<typeof prng>;

const SKILLS = ["email.send", "email.read", "payments.transfer", "shell.exec"];
const PATTERNS = ["*", "email.*", "email.send", "payments.*", "payments.transfer", "shell.exec", "shell.*"];
const AGENTS = ["bot-a", "bot-b"];

/** Rows of one kind with distinct keys: each generated row keyed by `key`, later duplicates dropped. */
function distinct<T>(rows: T[], key: (row: T) => string): T[] {
  const seen = new Set<string>();
  return rows.filter((row) => {
    if (seen.has(key(row))) return false;
    seen.add(key(row));
    return true;
  });
}

function genRules(rng: Rng, tenant: string): BundleCapabilityRule[] {
  const rows = Array.from({ length: rng.int(4) }, (): BundleCapabilityRule => {
    const effect = rng.pick(CAPABILITY_EFFECTS);
    return {
      tenant_id: tenant,
      agent_id: rng.chance(0.3) ? rng.pick(AGENTS) : null,
      skill_pattern: rng.pick(PATTERNS),
      effect,
      approval_level: effect === "require_approval" && rng.chance(0.7) ? rng.pick(LEVEL_NAMES) : null,
      description: null,
      enabled: rng.chance(0.85),
    };
  });
  return distinct(rows, (row) => `${row.agent_id}|${row.skill_pattern}`);
}

function genBudgets(rng: Rng, tenant: string): BundleBudget[] {
  const rows = Array.from(
    { length: rng.int(3) },
    (): BundleBudget => ({
      tenant_id: tenant,
      agent_id: rng.chance(0.3) ? rng.pick(AGENTS) : null,
      period: rng.pick(BUDGET_PERIODS),
      limit_cents: rng.pick([0, 50, 500, 5000]),
      enforcement: rng.pick(BUDGET_ENFORCEMENTS),
      enabled: rng.chance(0.85),
    }),
  );
  return distinct(rows, (row) => `${row.agent_id}|${row.period}`);
}

function genLevels(rng: Rng, tenant: string): BundleApprovalLevel[] {
  const rows = Array.from(
    { length: rng.int(4) },
    (): BundleApprovalLevel => ({
      policy_type: rng.pick(POLICY_TYPES),
      tenant_id: tenant,
      agent_id: rng.chance(0.3) ? rng.pick(AGENTS) : null,
      skill_id: rng.chance(0.5) ? rng.pick(SKILLS) : null,
      approval_level: rng.pick(LEVEL_NAMES),
      auto_approve_max_cost_cents: rng.pick([0, 10, 100, 10_000]),
      auto_approve_max_tokens: rng.pick([0, 500, 5000]),
      escalate_to: null,
      escalation_timeout_seconds: 300,
      escalation_chain: [],
      required_approvals: 1,
      enabled: rng.chance(0.85),
    }),
  );
  return distinct(rows, (row) => `${row.policy_type}|${row.agent_id}|${row.skill_id}`);
}

async function insertLive(
  rules: BundleCapabilityRule[],
  budgets: BundleBudget[],
  levels: BundleApprovalLevel[],
) {
  const sql = testSql();
  for (const r of rules) {
    await sql`INSERT INTO capability_rules (tenant_id, agent_id, skill_pattern, effect, approval_level, enabled)
      VALUES (${r.tenant_id}, ${r.agent_id}, ${r.skill_pattern}, ${r.effect}, ${r.approval_level}, ${r.enabled})`;
  }
  for (const b of budgets) {
    await sql`INSERT INTO budgets (tenant_id, agent_id, period, limit_cents, enforcement, enabled)
      VALUES (${b.tenant_id}, ${b.agent_id}, ${b.period}, ${b.limit_cents}, ${b.enforcement}, ${b.enabled})`;
  }
  for (const l of levels) {
    await sql`INSERT INTO policy_approval_levels (policy_type, tenant_id, agent_id, skill_id, approval_level,
        auto_approve_max_cost_cents, auto_approve_max_tokens, enabled)
      VALUES (${l.policy_type}, ${l.tenant_id}, ${l.agent_id}, ${l.skill_id}, ${l.approval_level},
        ${l.auto_approve_max_cost_cents}, ${l.auto_approve_max_tokens}, ${l.enabled})`;
  }
}

function genCall(rng: Rng, tenant: string): EvalBody {
  return {
    skill_id: rng.pick(SKILLS),
    tenant_id: tenant,
    agent_id: rng.chance(0.6) ? rng.pick(AGENTS) : null,
    policy_type: rng.pick(POLICY_TYPES),
    payload: rng.chance(0.7) ? { tokens: rng.pick([0, 200, 2000, 20_000]) } : {},
    simulate_cost: rng.chance(0.8),
  };
}

/** What the candidate answers when evaluated directly: the whole live set with the bundle in force. */
async function directShadow(bundle: PolicyBundle, body: EvalBody, spend: Record<string, number> | null) {
  const live = await loadLivePolicySet(db());
  const input = {
    skillId: body.skill_id,
    tenantId: body.tenant_id,
    agentId: body.agent_id ?? null,
    policyType: body.policy_type ?? "cost",
    payload: body.payload,
    simulateCost: body.simulate_cost ?? true,
  };
  const state = stateForCall(withBundle(live.set, bundle), input, {
    tenantDay: spend?.tenantDay ?? 0,
    tenantMonth: spend?.tenantMonth ?? 0,
    agentDay: spend?.agentDay ?? 0,
    agentMonth: spend?.agentMonth ?? 0,
  });
  const result = evaluateLocally(input, state);
  return { decision: result.decision, level: result.approvalLevelRequired };
}

/** Any policy change bumps the policy-set version, so the next evaluation reads the policy whole. */
async function bumpPolicyVersion() {
  await testSql()`UPDATE policy_settings SET unknown_skill_cost_cents = unknown_skill_cost_cents`;
}

describe("shadow mode on live evaluations", () => {
  it("never changes an answer and records what the candidate answers directly (generated cases)", async () => {
    const rng = prng(29);
    const cases = Array.from({ length: 24 }, () => {
      const tenant = newTenant();
      const live = {
        rules: genRules(rng, tenant),
        budgets: genBudgets(rng, tenant),
        levels: genLevels(rng, tenant),
      };
      // A candidate holds some sections (a section left out stays live) and rewrites them.
      const bundle: PolicyBundle = { format: "policy-bundle/v1", scope: tenant };
      if (rng.chance(0.7)) bundle.capability_rules = genRules(rng, tenant);
      if (rng.chance(0.5)) bundle.budgets = genBudgets(rng, tenant);
      if (rng.chance(0.5)) bundle.approval_levels = genLevels(rng, tenant);
      const spend = rng.chance(0.5) ? rng.pick([10, 400, 6000]) : 0;
      const calls = [genCall(rng, tenant), genCall(rng, tenant)];
      return { tenant, live, bundle, spend, calls };
    });
    for (const c of cases) {
      await insertLive(c.live.rules, c.live.budgets, c.live.levels);
      if (c.spend > 0) {
        await testSql()`INSERT INTO spend_ledger (tenant_id, agent_id, amount_cents, source, reference)
          VALUES (${c.tenant}, 'bot-a', ${c.spend}, 'usage', ${`u-${c.tenant}`})`;
      }
    }
    // Without shadows: the answers to compare with.
    const before = new Map<EvalBody, Row>();
    for (const c of cases) for (const body of c.calls) before.set(body, await evaluateCall(body));
    for (const c of cases) (c as { id?: string }).id = await shadowOn(c.bundle);

    let disagreements = 0;
    // Twice: first the policy read whole (a new version), then from the cache with the small statement.
    for (const path of ["whole read", "cached"]) {
      if (path === "whole read") await bumpPolicyVersion();
      for (const c of cases) {
        for (const body of c.calls) {
          const answer = await evaluateCall(body);
          expect(answerOf(answer), `${path}: ${JSON.stringify({ body, bundle: c.bundle })}`).toEqual(
            answerOf(before.get(body) as Row),
          );
          const row = await decisionRow(answer.decision_id);
          expect(row.shadowCandidateId).toBe((c as { id?: string }).id);
          const direct = await directShadow(c.bundle, body, row.spend);
          expect(
            { decision: row.shadowDecision, level: row.shadowLevel },
            JSON.stringify({ body, bundle: c.bundle }),
          ).toEqual(direct);
          if (direct.decision !== row.decision || direct.level !== row.approvalLevelRequired) disagreements++;
        }
      }
    }
    // The generator is worth its name only if candidates disagree sometimes.
    expect(disagreements).toBeGreaterThan(0);
  });

  it("a `*` candidate shadows every tenant; a tenant's own candidate wins over it", async () => {
    const [plain, own] = [newTenant(), newTenant()];
    const global: PolicyBundle = {
      format: "policy-bundle/v1",
      scope: "*",
      settings: { capability_default_effect: "deny", unknown_skill_cost_cents: 7 },
      skill_costs: [{ skill_id: "email.send", base_cents: 500, cents_per_1k_tokens: 0, description: null }],
    };
    const globalId = await shadowOn(global);
    const ownId = await shadowOn(
      tenantBundle(own, [{ skill_pattern: "email.*", effect: "require_approval" }]),
    );
    try {
      for (const [tenant, expected] of [
        [plain, globalId],
        [own, ownId],
      ] as const) {
        const body: EvalBody = { skill_id: "email.send", tenant_id: tenant, payload: {} };
        const answer = await evaluateCall(body);
        const row = await decisionRow(answer.decision_id);
        expect(row.shadowCandidateId).toBe(expected);
        const bundle =
          tenant === own
            ? tenantBundle(own, [{ skill_pattern: "email.*", effect: "require_approval" }])
            : global;
        expect({ decision: row.shadowDecision, level: row.shadowLevel }).toEqual(
          await directShadow(bundle, body, row.spend),
        );
      }
      // The `*` candidate would deny (default effect deny): the live answer still allows.
      const plainAnswer = await evaluateCall({ skill_id: "email.read", tenant_id: plain, payload: {} });
      expect(plainAnswer.decision).not.toBe("deny");
      expect((await decisionRow(plainAnswer.decision_id)).shadowDecision).toBe("deny");
    } finally {
      expect((await setShadow(globalId, false)).status).toBe(200);
    }
    // Off: nothing shadows a tenant without its own candidate.
    const after = await evaluateCall({ skill_id: "email.send", tenant_id: plain, payload: {} });
    expect((await decisionRow(after.decision_id)).shadowCandidateId).toBeNull();
  });

  it("counts shadow evaluations and disagreements, and the disagreements route reports them", async () => {
    const tenant = newTenant();
    const id = await shadowOn(tenantBundle(tenant, [{ skill_pattern: "shell.*", effect: "deny" }]));
    const metrics = recordingDataset();
    const agreeing = await evaluateCall(
      { skill_id: "email.read", tenant_id: tenant, payload: {} },
      { METRICS: metrics },
    );
    const denied = [];
    for (let i = 0; i < 2; i++) {
      denied.push(
        await evaluateCall(
          { skill_id: "shell.exec", tenant_id: tenant, agent_id: "bot-a", payload: {} },
          { METRICS: metrics },
        ),
      );
    }
    // A what-if evaluation is never shadowed.
    const whatIf = await evaluateCall(
      {
        skill_id: "shell.exec",
        tenant_id: tenant,
        payload: {},
        policy_overrides: { capability_rules: [] },
      } as EvalBody,
      { METRICS: metrics },
    );
    expect((await decisionRow(whatIf.decision_id)).shadowCandidateId).toBeNull();

    const totals = metrics.totals();
    const live = String(denied[0]?.decision);
    expect(live).not.toBe("deny");
    expect(totals["nova_policy_shadow_evaluations_total{}"]).toBe(3);
    expect(totals[`nova_policy_shadow_disagreements_total{from_decision=${live},to_decision=deny}`]).toBe(2);
    expect(
      Object.keys(totals).filter((key) => key.startsWith("nova_policy_shadow_disagreements_total")),
    ).toHaveLength(1);

    const deniedRow = await decisionRow(denied[0]?.decision_id);
    const report = await send("GET", `${CANDIDATES}/${id}/disagreements?limit=1`);
    expect(report.status).toBe(200);
    expect(report.body.candidate_id).toBe(id);
    expect(report.body.shadowed).toBe(3);
    expect(report.body.counts).toEqual([
      {
        decision: live,
        shadow_decision: "deny",
        level_change: Number(deniedRow.shadowLevel) - deniedRow.approvalLevelRequired,
        count: 2,
      },
    ]);
    const latest = report.body.latest as Row[];
    expect(latest).toHaveLength(1);
    expect(latest[0]).toMatchObject({
      decision_id: denied[1]?.decision_id,
      tenant_id: tenant,
      agent_id: "bot-a",
      skill_id: "shell.exec",
      decision: live,
      shadow_decision: "deny",
    });
    expect(latest.map((row) => row.decision_id)).not.toContain(agreeing.decision_id);
  });

  it("costs no extra statement per evaluation once the candidate is cached", async () => {
    const [shadowed, plain] = [newTenant(), newTenant()];
    await shadowOn(tenantBundle(shadowed, [{ skill_pattern: "email.*", effect: "deny" }]));
    const body = (tenant: string): EvalBody => ({ skill_id: "email.send", tenant_id: tenant, payload: {} });
    // Warm both: the policy cache, and for the shadowed tenant the candidate cache.
    await evaluateCall(body(shadowed));
    await evaluateCall(body(plain));

    const statements = async (tenant: string) => {
      const spy = vi.spyOn(globalThis, "fetch");
      try {
        const answer = await evaluateCall(body(tenant));
        const sqlCalls = spy.mock.calls.filter(([input]) =>
          String(input instanceof Request ? input.url : input).includes("/sql"),
        );
        return { answer, count: sqlCalls.length };
      } finally {
        spy.mockRestore();
      }
    };
    const withShadow = await statements(shadowed);
    const without = await statements(plain);
    expect((await decisionRow(withShadow.answer.decision_id)).shadowDecision).toBe("deny");
    // One statement to check the policy and spend (the marker rides in it), one to log the decision.
    expect(without.count).toBeGreaterThan(0);
    expect(withShadow.count).toBe(without.count);
  });

  it("a candidate that fails to evaluate is logged and counted; the live answer stands", async () => {
    const tenant = newTenant();
    await testSql()`INSERT INTO capability_rules (tenant_id, skill_pattern, effect) VALUES (${tenant}, 'email.*', 'deny')`;
    const body: EvalBody = { skill_id: "email.send", tenant_id: tenant, payload: {} };
    const expected = answerOf(await evaluateCall(body));
    // Only the API validates bundles: a row written by hand can hold anything.
    await testSql()`INSERT INTO policy_candidates (id, scope, bundle, bundle_sha256, base_sha256, shadow, created_by)
      VALUES ('pcd_badbadbadbadbad0', ${tenant},
        ${JSON.stringify({ format: "policy-bundle/v1", scope: tenant, capability_rules: "oops" })}::jsonb,
        repeat('0', 64), repeat('0', 64), true, 'hand')`;
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    vi.spyOn(console, "warn").mockImplementation((line: unknown) => void lines.push(String(line)));
    const metrics = recordingDataset();
    const answer = await evaluateCall(body, { METRICS: metrics });
    vi.restoreAllMocks();
    expect(answerOf(answer)).toEqual(expected);
    const row = await decisionRow(answer.decision_id);
    expect([row.shadowCandidateId, row.shadowDecision, row.shadowLevel]).toEqual([null, null, null]);
    expect(metrics.totals()["nova_policy_shadow_failures_total{stage=evaluate}"]).toBe(1);
    expect(
      lines.some(
        (line) => line.includes("shadow_evaluation_failed") && line.includes("pcd_badbadbadbadbad0"),
      ),
    ).toBe(true);
    await testSql()`DELETE FROM policy_candidates WHERE id = 'pcd_badbadbadbadbad0'`;
  });

  it("a deleted candidate stops shadowing at once, and its recorded answers stay in the log", async () => {
    const tenant = newTenant();
    const id = await shadowOn(tenantBundle(tenant, [{ effect: "deny" }]));
    const body: EvalBody = { skill_id: "email.send", tenant_id: tenant, payload: {} };
    const first = await evaluateCall(body);
    expect((await decisionRow(first.decision_id)).shadowCandidateId).toBe(id);
    expect((await send("DELETE", `${CANDIDATES}/${id}`)).status).toBe(200);
    const second = await evaluateCall(body);
    expect((await decisionRow(second.decision_id)).shadowCandidateId).toBeNull();
    const kept = await db()
      .select()
      .from(policyDecisions)
      .where(inArray(policyDecisions.id, [String(first.decision_id)]));
    expect(kept[0]?.shadowDecision).toBe("deny");
  });

  it("the shadow answer travels through the decision-log queue to the row the consumer writes", async () => {
    const tenant = newTenant();
    const id = await shadowOn(tenantBundle(tenant, [{ effect: "deny" }]));
    const sent: DecisionLogMessage[] = [];
    const queue = {
      async send(body: DecisionLogMessage) {
        sent.push(structuredClone(body));
      },
    } as unknown as Bindings["DECISION_LOG_QUEUE"];
    const answer = await evaluateCall(
      { skill_id: "email.send", tenant_id: tenant, payload: {} },
      { DECISION_LOG_QUEUE: queue },
    );
    expect(sent.map((message) => message.decision.shadowCandidateId)).toEqual([id]);
    const batch = createMessageBatch(
      "policy-decisions",
      sent.map((body, index) => ({ id: `m${index}`, timestamp: new Date(), attempts: 1, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch, testEnv(), ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["m0"]);
    const row = await decisionRow(answer.decision_id);
    expect([row.shadowCandidateId, row.shadowDecision]).toEqual([id, "deny"]);
  });
});
