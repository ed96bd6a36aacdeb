// The admin policy API (src/routes/admin-policies.ts) and the audit/version trigger behind it
// (migrations/0004): every change, through the API or by hand-written SQL, is audited and bumps the
// policy-set version by exactly one per changed row.
import { asc, eq, gt } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../src/db/client.ts";
import { auditEvents } from "../src/db/schema.ts";
import type { Role } from "../src/domain/vocabulary.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const BASE = "/api/v1/admin/policies";
const SETTINGS = `${BASE}/settings`;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

type Row = Record<string, unknown>;
interface Sent {
  status: number;
  requestId: string | null;
  body: Row;
}

let admin: TestKey;
beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "ops-policy-admin" });
});

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;

async function send(method: string, path: string, body?: unknown, headers = admin.headers): Promise<Sent> {
  const res = await call(path, {
    method,
    headers: body === undefined ? headers : { ...headers, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, requestId: res.headers.get("x-request-id"), body: (await res.json()) as Row };
}

function errorOf(sent: Sent) {
  return (sent.body as unknown as ErrorEnvelope).error;
}

function issuePaths(sent: Sent): string[] {
  const details = errorOf(sent).details as { issues?: { path: string }[] } | undefined;
  return (details?.issues ?? []).map((issue) => issue.path);
}

/** The policy-set version as GET settings reports it. */
async function policyVersion(): Promise<number> {
  const sent = await send("GET", SETTINGS);
  expect(sent.status).toBe(200);
  return sent.body.policy_version as number;
}

/** The audit events one API request wrote, found by the request id the response carried. */
async function auditOf(sent: Sent) {
  expect(sent.requestId).toMatch(/\S/);
  return createDb(testEnv())
    .select()
    .from(auditEvents)
    .where(eq(auditEvents.requestId, sent.requestId ?? ""))
    .orderBy(asc(auditEvents.id));
}

/** Exactly one audit event for `sent`, by this test's admin key, for `action` on `targetId`. */
async function expectOneAudit(sent: Sent, action: string, targetId: string) {
  const events = await auditOf(sent);
  expect(events).toHaveLength(1);
  const [event] = events;
  expect(event).toMatchObject({
    actor: admin.principalId,
    actorKeyId: admin.keyId,
    action,
    targetType: action.split(".")[0],
    targetId,
    requestId: sent.requestId,
  });
  return event as (typeof events)[number];
}

/** Runs `work` and checks the policy-set version did not move: refused changes leave no trace. */
async function withoutVersionChange(work: () => Promise<void>) {
  const before = await policyVersion();
  await work();
  expect(await policyVersion()).toBe(before);
}

interface Kind {
  path: string;
  table: string;
  /** Column that is the {id} in URLs. */
  idKey: "id" | "skill_id";
  /** A create body with non-default values wherever possible, so a reset to a default shows. */
  create: (tenant: string) => Row;
  /** The fields the create body leaves to their defaults. */
  defaults: Row;
  /** A one-field PATCH. */
  patch: Row;
  /** A list query that finds exactly this test's row, or null where the list has no filters. */
  filter: ((tenant: string) => string) | null;
  /** An id that names no row. */
  missingId: string;
}

const KINDS: Kind[] = [
  {
    path: "approval-levels",
    table: "policy_approval_levels",
    idKey: "id",
    create: (tenant) => ({
      policy_type: "cost",
      tenant_id: tenant,
      agent_id: "agent-1",
      approval_level: "pre_approved",
      auto_approve_max_cost_cents: 250,
      escalate_to: "oncall",
      required_approvals: 2,
    }),
    defaults: {
      skill_id: null,
      auto_approve_max_tokens: 1000,
      escalation_timeout_seconds: 300,
      escalation_chain: [],
      enabled: true,
    },
    patch: { escalation_timeout_seconds: 900 },
    filter: (tenant) => `tenant_id=${tenant}&policy_type=cost&agent_id=agent-1`,
    missingId: "999999999",
  },
  {
    path: "capability-rules",
    table: "capability_rules",
    idKey: "id",
    create: (tenant) => ({
      tenant_id: tenant,
      skill_pattern: "email.*",
      effect: "require_approval",
      approval_level: "manual_approve",
      description: "outbound mail needs a human",
      enabled: false,
    }),
    defaults: { agent_id: null },
    patch: { effect: "deny" },
    filter: (tenant) => `tenant_id=${tenant}&effect=require_approval`,
    missingId: "999999999",
  },
  {
    path: "budgets",
    table: "budgets",
    idKey: "id",
    create: (tenant) => ({
      tenant_id: tenant,
      agent_id: "agent-1",
      period: "month",
      limit_cents: 12_345,
      enforcement: "soft",
    }),
    defaults: { enabled: true },
    patch: { limit_cents: 20_000 },
    filter: (tenant) => `tenant_id=${tenant}&period=month`,
    missingId: "999999999",
  },
  {
    path: "skill-costs",
    table: "skill_costs",
    idKey: "skill_id",
    create: (tenant) => ({ skill_id: `${tenant}.summarize`, base_cents: 5, cents_per_1k_tokens: 2 }),
    defaults: { description: null },
    patch: { description: "LLM summary" },
    filter: null,
    missingId: "no.such.skill",
  },
];

describe("admin policy API: create, read, list, update, delete", () => {
  for (const kind of KINDS) {
    it(`${kind.path}: the full lifecycle, each change versioned and audited`, async () => {
      const base = `${BASE}/${kind.path}`;
      const tenant = newTenant();
      const input = kind.create(tenant);
      const expected = { ...kind.defaults, ...input };

      // Create: 201, the row in snake_case with defaults filled in, plus the new policy version.
      const v0 = await policyVersion();
      const created = await send("POST", base, input);
      expect(created.status).toBe(201);
      const { policy_version: createdVersion, ...row } = created.body;
      expect(createdVersion).toBe(v0 + 1);
      expect(row).toMatchObject(expected);
      expect(Object.keys(row).sort()).toEqual(
        [...Object.keys(expected), "created_at", "updated_at", ...(kind.idKey === "id" ? ["id"] : [])].sort(),
      );
      expect(row.created_at).toMatch(ISO);
      expect(row.updated_at).toMatch(ISO);
      const id = String(row[kind.idKey]);
      if (kind.idKey === "id") expect(row.id).toEqual(expect.any(Number));
      expect(await policyVersion()).toBe(v0 + 1);
      const insert = await expectOneAudit(created, `${kind.table}.insert`, id);
      expect(insert.before).toBeNull();
      expect(insert.after).toMatchObject(expected);

      // Read and list return the same row (without the version).
      const read = await send("GET", `${base}/${encodeURIComponent(id)}`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual(row);
      if (kind.filter) {
        const listed = await send("GET", `${base}?${kind.filter(tenant)}`);
        expect(listed.status).toBe(200);
        expect(listed.body).toEqual([row]);
      } else {
        const listed = await send("GET", base);
        expect(listed.status).toBe(200);
        expect(listed.body).toContainEqual(row);
      }

      // Patch one field: it changes, every other field stays as created.
      const patched = await send("PATCH", `${base}/${encodeURIComponent(id)}`, kind.patch);
      expect(patched.status).toBe(200);
      expect(patched.body).toEqual({
        ...row,
        ...kind.patch,
        updated_at: expect.stringMatching(ISO),
        policy_version: v0 + 2,
      });
      expect(await policyVersion()).toBe(v0 + 2);
      const update = await expectOneAudit(patched, `${kind.table}.update`, id);
      expect(update.before).toMatchObject(expected);
      expect(update.after).toMatchObject({ ...expected, ...kind.patch });
      const { policy_version: _patchedVersion, ...patchedRow } = patched.body;

      // Delete: returns the deleted row; afterwards it is gone.
      const deleted = await send("DELETE", `${base}/${encodeURIComponent(id)}`);
      expect(deleted.status).toBe(200);
      expect(deleted.body).toEqual({ ...patchedRow, policy_version: v0 + 3 });
      expect(await policyVersion()).toBe(v0 + 3);
      const removal = await expectOneAudit(deleted, `${kind.table}.delete`, id);
      expect(removal.before).toMatchObject({ ...expected, ...kind.patch });
      expect(removal.after).toBeNull();
      expect((await send("GET", `${base}/${encodeURIComponent(id)}`)).status).toBe(404);
    });
  }

  it("lists the four seeded global approval levels, and filters by policy_type", async () => {
    const all = await send("GET", `${BASE}/approval-levels?limit=1000`);
    expect(all.status).toBe(200);
    const globals = (all.body as unknown as Row[]).filter(
      (row) => row.tenant_id === null && row.agent_id === null && row.skill_id === null,
    );
    expect(globals.map((row) => row.policy_type).sort()).toEqual([
      "capability",
      "cost",
      "rate_limit",
      "resource",
    ]);
    for (const row of globals) {
      expect(row).toMatchObject({
        approval_level: "agent_approve",
        auto_approve_max_cost_cents: 100,
        auto_approve_max_tokens: 1000,
        escalation_timeout_seconds: 300,
        enabled: true,
      });
    }

    const rateLimits = (await send("GET", `${BASE}/approval-levels?policy_type=rate_limit`))
      .body as unknown as Row[];
    expect(rateLimits.length).toBeGreaterThan(0);
    expect(rateLimits.every((row) => row.policy_type === "rate_limit")).toBe(true);
    expect(rateLimits).toContainEqual(globals.find((row) => row.policy_type === "rate_limit"));
  });

  it("lists in id order with limit and offset, and only the filtered tenant's rows", async () => {
    const tenant = newTenant();
    const other = newTenant();
    const ids: unknown[] = [];
    for (const agent of ["a1", "a2", "a3"]) {
      const sent = await send("POST", `${BASE}/budgets`, {
        tenant_id: tenant,
        agent_id: agent,
        period: "day",
        limit_cents: 100,
      });
      expect(sent.status).toBe(201);
      ids.push(sent.body.id);
    }
    expect(
      (await send("POST", `${BASE}/budgets`, { tenant_id: other, period: "day", limit_cents: 1 })).status,
    ).toBe(201);
    const list = async (query: string) =>
      ((await send("GET", `${BASE}/budgets?${query}`)).body as unknown as Row[]).map((row) => row.id);
    expect(await list(`tenant_id=${tenant}`)).toEqual(ids);
    expect(await list(`tenant_id=${tenant}&agent_id=a2`)).toEqual([ids[1]]);
    expect(await list(`tenant_id=${tenant}&limit=2&offset=1`)).toEqual(ids.slice(1));
    expect(await list(`tenant_id=${tenant}&period=month`)).toEqual([]);
    expect((await send("GET", `${BASE}/budgets?limit=0`)).status).toBe(400);
  });

  it("counts one version per changed row and no version for a PATCH that changes nothing", async () => {
    const created = await send("POST", `${BASE}/capability-rules`, {
      tenant_id: newTenant(),
      skill_pattern: "*",
      effect: "allow",
    });
    expect(created.status).toBe(201);
    const rule = `${BASE}/capability-rules/${created.body.id}`;
    // Setting the value it already has is not a policy change (the trigger skips it).
    await withoutVersionChange(async () => {
      const same = await send("PATCH", rule, { effect: "allow" });
      expect(same.status).toBe(200);
      expect(same.body.policy_version).toBe(created.body.policy_version);
      expect(await auditOf(same)).toEqual([]);
    });
    // A PATCH of two fields of one row is still one changed row: one version, one audit event.
    const two = await send("PATCH", rule, { effect: "deny", description: "shut it all" });
    expect(two.status).toBe(200);
    expect(two.body.policy_version).toBe((created.body.policy_version as number) + 1);
    await expectOneAudit(two, "capability_rules.update", String(created.body.id));
  });
});

describe("admin policy API: PATCH is partial", () => {
  it("keeps an approval level's cost ceiling when only approval_level is sent", async () => {
    const tenant = newTenant();
    const created = await send("POST", `${BASE}/approval-levels`, {
      policy_type: "resource",
      tenant_id: tenant,
      approval_level: "agent_approve",
      auto_approve_max_cost_cents: 500,
      auto_approve_max_tokens: 4000,
      escalate_to: "finance",
      enabled: false,
    });
    expect(created.status).toBe(201);
    const item = `${BASE}/approval-levels/${created.body.id}`;
    const patched = await send("PATCH", item, { approval_level: "manual_approve" });
    expect(patched.status).toBe(200);
    const kept = {
      approval_level: "manual_approve",
      auto_approve_max_cost_cents: 500,
      auto_approve_max_tokens: 4000,
      escalate_to: "finance",
      enabled: false,
      tenant_id: tenant,
      policy_type: "resource",
    };
    expect(patched.body).toMatchObject(kept);
    expect((await send("GET", item)).body).toMatchObject(kept);
  });

  it("keeps a capability rule's level and description, and a budget's enforcement", async () => {
    const tenant = newTenant();
    const rule = await send("POST", `${BASE}/capability-rules`, {
      tenant_id: tenant,
      skill_pattern: "payments.refund",
      effect: "require_approval",
      approval_level: "owner_override",
      description: "refunds",
    });
    expect(rule.status).toBe(201);
    const rulePatched = await send("PATCH", `${BASE}/capability-rules/${rule.body.id}`, { enabled: false });
    expect(rulePatched.body).toMatchObject({
      effect: "require_approval",
      approval_level: "owner_override",
      description: "refunds",
      enabled: false,
    });

    const budget = await send("POST", `${BASE}/budgets`, {
      tenant_id: tenant,
      period: "day",
      limit_cents: 700,
      enforcement: "soft",
      enabled: false,
    });
    expect(budget.status).toBe(201);
    const budgetPatched = await send("PATCH", `${BASE}/budgets/${budget.body.id}`, { limit_cents: 900 });
    expect(budgetPatched.body).toMatchObject({ limit_cents: 900, enforcement: "soft", enabled: false });
  });
});

describe("admin policy API: bad input", () => {
  it("rejects invalid bodies with validation_failed and the offending path, changing nothing", async () => {
    const tenant = newTenant();
    const level = await send("POST", `${BASE}/approval-levels`, {
      policy_type: "cost",
      tenant_id: tenant,
      approval_level: "auto_approve",
    });
    const rule = await send("POST", `${BASE}/capability-rules`, {
      tenant_id: tenant,
      skill_pattern: "email.send",
      effect: "allow",
    });
    expect([level.status, rule.status]).toEqual([201, 201]);
    const levelPath = `${BASE}/approval-levels/${level.body.id}`;
    const rulePath = `${BASE}/capability-rules/${rule.body.id}`;

    const cases: [method: string, path: string, body: unknown, issuePath: string][] = [
      [
        "POST",
        `${BASE}/approval-levels`,
        { policy_type: "cost", tenant_id: tenant, approval_level: "supreme" },
        "approval_level",
      ],
      [
        "POST",
        `${BASE}/approval-levels`,
        { policy_type: "budgetary", approval_level: "auto_approve" },
        "policy_type",
      ],
      [
        "POST",
        `${BASE}/approval-levels`,
        { policy_type: "cost", tenant_id: tenant, approval_level: "auto_approve", colour: "red" },
        "",
      ],
      [
        "POST",
        `${BASE}/capability-rules`,
        { tenant_id: tenant, skill_pattern: "a*b", effect: "deny" },
        "skill_pattern",
      ],
      [
        "POST",
        `${BASE}/capability-rules`,
        { tenant_id: tenant, skill_pattern: "with space", effect: "deny" },
        "skill_pattern",
      ],
      [
        "POST",
        `${BASE}/capability-rules`,
        { tenant_id: tenant, skill_pattern: "x.*", effect: "maybe" },
        "effect",
      ],
      ["POST", `${BASE}/budgets`, { tenant_id: tenant, period: "week", limit_cents: 1 }, "period"],
      ["POST", `${BASE}/budgets`, { tenant_id: tenant, period: "day", limit_cents: -1 }, "limit_cents"],
      ["POST", `${BASE}/skill-costs`, { skill_id: "has space" }, "skill_id"],
      ["PATCH", levelPath, { approval_level: "supreme" }, "approval_level"],
      ["PATCH", levelPath, { auto_approve_max_cost_cents: null }, "auto_approve_max_cost_cents"],
      ["PATCH", levelPath, { colour: "red" }, ""],
      ["PATCH", rulePath, { skill_pattern: "a*b" }, "skill_pattern"],
      ["PATCH", rulePath, { skill_pattern: "with space" }, "skill_pattern"],
    ];
    await withoutVersionChange(async () => {
      for (const [method, path, body, issuePath] of cases) {
        const sent = await send(method, path, body);
        const label = `${method} ${path} ${JSON.stringify(body)}`;
        expect(sent.status, label).toBe(400);
        expect(errorOf(sent).code, label).toBe("validation_failed");
        expect(issuePaths(sent), label).toContain(issuePath);
      }
    });
    // The rows the PATCHes aimed at are untouched.
    expect((await send("GET", levelPath)).body.approval_level).toBe("auto_approve");
    expect((await send("GET", rulePath)).body.skill_pattern).toBe("email.send");
  });

  it("rejects an empty PATCH on every kind and on settings", async () => {
    const tenant = newTenant();
    const rows = {
      "approval-levels": await send("POST", `${BASE}/approval-levels`, {
        policy_type: "cost",
        tenant_id: tenant,
        approval_level: "auto_approve",
      }),
      "capability-rules": await send("POST", `${BASE}/capability-rules`, {
        tenant_id: tenant,
        skill_pattern: "*",
        effect: "allow",
      }),
      budgets: await send("POST", `${BASE}/budgets`, { tenant_id: tenant, period: "day", limit_cents: 1 }),
      "skill-costs": await send("POST", `${BASE}/skill-costs`, { skill_id: `${tenant}.noop` }),
    };
    await withoutVersionChange(async () => {
      for (const [path, created] of Object.entries(rows)) {
        expect(created.status).toBe(201);
        const id = created.body.id ?? created.body.skill_id;
        const sent = await send("PATCH", `${BASE}/${path}/${id}`, {});
        expect(sent.status, path).toBe(400);
        expect(errorOf(sent).code, path).toBe("bad_request");
      }
      expect((await send("PATCH", SETTINGS, {})).status).toBe(400);
    });
  });

  it("answers 404 for ids that name no row, and 400 for a non-numeric id", async () => {
    await withoutVersionChange(async () => {
      for (const kind of KINDS) {
        const item = `${BASE}/${kind.path}/${kind.missingId}`;
        const patch = kind.path === "skill-costs" ? { base_cents: 1 } : { enabled: false };
        for (const [method, body] of [["GET"], ["PATCH", patch], ["DELETE"]] as const) {
          const sent = await send(method, item, body);
          expect(sent.status, `${method} ${item}`).toBe(404);
          expect(errorOf(sent).code).toBe("not_found");
        }
      }
      for (const badId of ["abc", "0", "1.5", "-3", "0x1", "1e0", "01"]) {
        const item = `${BASE}/approval-levels/${badId}`;
        for (const [method, body] of [["GET"], ["PATCH", { enabled: false }], ["DELETE"]] as const) {
          const sent = await send(method, item, body);
          expect(sent.status, `${method} ${item}`).toBe(400);
          expect(errorOf(sent).code).toBe("validation_failed");
          expect(issuePaths(sent)).toContain("id");
        }
      }
    });
  });
});

describe("admin policy API: one rule per scope", () => {
  it("answers 409 conflict for a second rule with the same scope, and stores nothing", async () => {
    const tenant = newTenant();
    const firsts: [string, Row][] = [
      [
        "approval-levels",
        {
          policy_type: "resource",
          tenant_id: tenant,
          skill_id: "db.query",
          approval_level: "manual_approve",
        },
      ],
      ["capability-rules", { tenant_id: tenant, skill_pattern: "files.*", effect: "deny" }],
      ["budgets", { tenant_id: tenant, period: "day", limit_cents: 100 }],
      ["skill-costs", { skill_id: `${tenant}.dup`, base_cents: 1 }],
    ];
    const seconds: [string, Row][] = [
      [
        "approval-levels",
        { policy_type: "resource", tenant_id: tenant, skill_id: "db.query", approval_level: "auto_approve" },
      ],
      ["capability-rules", { tenant_id: tenant, skill_pattern: "files.*", effect: "allow" }],
      ["budgets", { tenant_id: tenant, period: "day", limit_cents: 999, enforcement: "soft" }],
      ["skill-costs", { skill_id: `${tenant}.dup`, base_cents: 2 }],
      // The seeded global cost row: NULL scopes count as equal, so there is one global default per type.
      ["approval-levels", { policy_type: "cost", approval_level: "auto_approve" }],
    ];
    for (const [path, body] of firsts)
      expect((await send("POST", `${BASE}/${path}`, body)).status, path).toBe(201);
    await withoutVersionChange(async () => {
      for (const [path, body] of seconds) {
        const sent = await send("POST", `${BASE}/${path}`, body);
        expect(sent.status, `${path} ${JSON.stringify(body)}`).toBe(409);
        expect(errorOf(sent).code).toBe("conflict");
        expect(await auditOf(sent)).toEqual([]);
      }
    });
    // The first rule of each scope stands, unchanged.
    const levels = (await send("GET", `${BASE}/approval-levels?tenant_id=${tenant}`))
      .body as unknown as Row[];
    expect(levels.map((row) => row.approval_level)).toEqual(["manual_approve"]);
    const budgets = (await send("GET", `${BASE}/budgets?tenant_id=${tenant}`)).body as unknown as Row[];
    expect(budgets.map((row) => row.limit_cents)).toEqual([100]);
  });

  it("allows the same pattern for a narrower scope, but not a PATCH onto a taken scope", async () => {
    const tenant = newTenant();
    const broad = await send("POST", `${BASE}/capability-rules`, {
      tenant_id: tenant,
      skill_pattern: "email.*",
      effect: "deny",
    });
    const narrow = await send("POST", `${BASE}/capability-rules`, {
      tenant_id: tenant,
      agent_id: "mailer",
      skill_pattern: "email.*",
      effect: "allow",
    });
    expect([broad.status, narrow.status]).toEqual([201, 201]);
    await withoutVersionChange(async () => {
      const sent = await send("PATCH", `${BASE}/capability-rules/${narrow.body.id}`, { agent_id: null });
      expect(sent.status).toBe(409);
      expect(errorOf(sent).code).toBe("conflict");
    });
    expect((await send("GET", `${BASE}/capability-rules/${narrow.body.id}`)).body.agent_id).toBe("mailer");
  });
});

describe("policy changes by hand-written SQL", () => {
  it("the runbook's emergency UPDATE bumps the version once per changed row and is audited as sql:<user>", async () => {
    // One row already at manual_approve: the statement touches it but changes nothing, so it does not count.
    const already = await send("POST", `${BASE}/approval-levels`, {
      policy_type: "rate_limit",
      tenant_id: newTenant(),
      approval_level: "manual_approve",
    });
    expect(already.status).toBe(201);
    const sql = testSql();
    const changing = (
      await sql`SELECT id FROM policy_approval_levels WHERE approval_level <> 'manual_approve'`
    ).map((row) => String(row.id));
    const [{ last }] = (await sql`SELECT coalesce(max(id), 0)::int AS last FROM audit_events`) as [
      { last: number },
    ];
    const v0 = await policyVersion();

    const result = await sql.query(
      "UPDATE policy_approval_levels SET approval_level = 'manual_approve';",
      [],
      {
        fullResults: true,
      },
    );

    expect(changing.length).toBeGreaterThanOrEqual(4);
    expect(result.rowCount).toBeGreaterThan(changing.length);
    expect(await policyVersion()).toBe(v0 + changing.length);
    const events = await createDb(testEnv())
      .select()
      .from(auditEvents)
      .where(gt(auditEvents.id, last))
      .orderBy(asc(auditEvents.id));
    expect(events.map((event) => event.targetId).sort()).toEqual([...changing].sort());
    for (const event of events) {
      expect(event.actor).toMatch(/^sql:\S+$/);
      expect(event).toMatchObject({
        action: "policy_approval_levels.update",
        actorKeyId: null,
        requestId: null,
      });
      expect(event.before?.approval_level).not.toBe("manual_approve");
      expect(event.after?.approval_level).toBe("manual_approve");
    }
    // The API sees the change.
    const list = (await send("GET", `${BASE}/approval-levels?limit=1000`)).body as unknown as Row[];
    expect(list.every((row) => row.approval_level === "manual_approve")).toBe(true);
  });
});

describe("policy settings", () => {
  it("PATCH changes the default effect, keeps the other setting, bumps and audits; GET shows it", async () => {
    const initial = await send("GET", SETTINGS);
    expect(initial.status).toBe(200);
    expect(initial.body).toEqual({
      capability_default_effect: "allow",
      unknown_skill_cost_cents: 10,
      policy_version: expect.any(Number),
      updated_at: expect.stringMatching(ISO),
    });
    const v0 = initial.body.policy_version as number;

    const patched = await send("PATCH", SETTINGS, { capability_default_effect: "deny" });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      capability_default_effect: "deny",
      unknown_skill_cost_cents: 10,
      policy_version: v0 + 1,
    });
    const event = await expectOneAudit(patched, "policy_settings.update", "1");
    expect(event.before).toMatchObject({ capability_default_effect: "allow" });
    expect(event.after).toMatchObject({ capability_default_effect: "deny", unknown_skill_cost_cents: 10 });
    expect((await send("GET", SETTINGS)).body).toMatchObject({
      capability_default_effect: "deny",
      policy_version: v0 + 1,
    });

    // The same value again is no change; an unknown effect is refused.
    await withoutVersionChange(async () => {
      expect((await send("PATCH", SETTINGS, { capability_default_effect: "deny" })).status).toBe(200);
      const bad = await send("PATCH", SETTINGS, { capability_default_effect: "maybe" });
      expect(bad.status).toBe(400);
      expect(issuePaths(bad)).toContain("capability_default_effect");
    });

    const cost = await send("PATCH", SETTINGS, { unknown_skill_cost_cents: 25 });
    expect(cost.body).toMatchObject({
      capability_default_effect: "deny",
      unknown_skill_cost_cents: 25,
      policy_version: v0 + 2,
    });
  });
});

describe("admin policy API: permissions", () => {
  it("refuses agent and approver keys with 403, creating nothing", async () => {
    const tenant = newTenant();
    const bodies: [string, Row][] = [
      ["approval-levels", { policy_type: "cost", tenant_id: tenant, approval_level: "auto_approve" }],
      ["capability-rules", { tenant_id: tenant, skill_pattern: "*", effect: "allow" }],
      ["budgets", { tenant_id: tenant, period: "day", limit_cents: 1_000_000 }],
      ["skill-costs", { skill_id: `${tenant}.free` }],
    ];
    await withoutVersionChange(async () => {
      for (const role of ["agent", "approver"] as Role[]) {
        // Even a key scoped to the very tenant the rule is for.
        for (const key of [await createTestKey(role), await createTestKey(role, { tenantId: tenant })]) {
          for (const [path, body] of bodies) {
            const sent = await send("POST", `${BASE}/${path}`, body, key.headers);
            expect(sent.status, `${role} POST ${path}`).toBe(403);
            expect(errorOf(sent).code).toBe("forbidden");
          }
          expect((await send("GET", `${BASE}/budgets`, undefined, key.headers)).status).toBe(403);
          expect(
            (await send("PATCH", SETTINGS, { capability_default_effect: "deny" }, key.headers)).status,
          ).toBe(403);
        }
      }
    });
    for (const [path] of bodies.slice(0, 3)) {
      expect((await send("GET", `${BASE}/${path}?tenant_id=${tenant}`)).body).toEqual([]);
    }
    expect((await send("GET", `${BASE}/skill-costs/${tenant}.free`)).status).toBe(404);
  });
});
