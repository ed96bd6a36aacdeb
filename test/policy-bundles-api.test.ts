// The bundle routes (src/routes/policy-bundles.ts): export, validate and apply against the file's real
// database. Export then apply is the identity; an apply is all or nothing; the scope's base hash stops
// an apply made against a policy that changed since; the admin API's level rule holds per row; bad
// bundles are 400s naming each path; only admin keys reach any of it.
import { asc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../src/db/client.ts";
import { auditEvents } from "../src/db/schema.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const BASE = "/api/v1/admin/policies";
const BUNDLE = `${BASE}/bundle`;

type Row = Record<string, unknown>;
interface Sent {
  status: number;
  requestId: string | null;
  body: Row;
}

let admin: TestKey;
beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "ops-bundle-admin" });
});

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;

async function send(method: string, path: string, body?: unknown, headers = admin.headers): Promise<Sent> {
  const res = await call(path, {
    method,
    headers: body === undefined ? headers : { ...headers, "Content-Type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, requestId: res.headers.get("x-request-id"), body: (await res.json()) as Row };
}

const errorOf = (sent: Sent) => (sent.body as unknown as ErrorEnvelope).error;

function issuePaths(sent: Sent): string[] {
  const details = errorOf(sent).details as { issues?: { path: string }[] } | undefined;
  return (details?.issues ?? []).map((issue) => issue.path);
}

async function exported(scope: string): Promise<{ bundle: Row; base: string; version: number }> {
  const sent = await send("GET", `${BUNDLE}?scope=${encodeURIComponent(scope)}`);
  expect(sent.status).toBe(200);
  return {
    bundle: sent.body.bundle as Row,
    base: sent.body.base_sha256 as string,
    version: sent.body.policy_version as number,
  };
}

const apply = (bundle: Row, expected: string, headers = admin.headers) =>
  send("POST", `${BUNDLE}/apply`, { bundle, expected_base_sha256: expected }, headers);

async function auditOf(sent: Sent) {
  return createDb(testEnv())
    .select()
    .from(auditEvents)
    .where(eq(auditEvents.requestId, sent.requestId ?? ""))
    .orderBy(asc(auditEvents.id));
}

/** A tenant bundle with a rule and a budget: the usual edit. */
function tenantBundle(tenant: string, limit = 5000): Row {
  return {
    format: "policy-bundle/v1",
    scope: tenant,
    capability_rules: [{ tenant_id: tenant, skill_pattern: "email.*", effect: "allow" }],
    budgets: [{ tenant_id: tenant, period: "day", limit_cents: limit }],
  };
}

describe("export and apply", () => {
  it("export, then apply of the export, is the identity: no version bump, no audit rows", async () => {
    const before = await exported("*");
    expect(before.bundle.format).toBe("policy-bundle/v1");
    expect(before.bundle.settings).toBeDefined();
    expect(before.base).toMatch(/^[0-9a-f]{64}$/);
    const sent = await apply(before.bundle, before.base);
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({
      applied: true,
      policy_version: before.version,
      base_sha256: before.base,
    });
    expect((sent.body.changes as Row).total).toBe(0);
    expect(await auditOf(sent)).toHaveLength(0);
    expect((await exported("*")).version).toBe(before.version);
  });

  it("applies an edit in place: changed rows keep their ids, one bundle event plus one per row", async () => {
    const tenant = newTenant();
    const first = await exported(tenant);
    expect(first.bundle).toEqual({
      format: "policy-bundle/v1",
      scope: tenant,
      approval_levels: [],
      capability_rules: [],
      budgets: [],
    });
    const created = await apply(tenantBundle(tenant), first.base);
    expect(created.status).toBe(200);
    expect(created.body.changes).toMatchObject({
      capability_rules: { added: 1 },
      budgets: { added: 1 },
      total: 2,
    });
    expect(created.body.policy_version).toBe(first.version + 2);
    const [rule] = await testSql()`SELECT id, updated_at FROM capability_rules WHERE tenant_id = ${tenant}`;
    const [budget] = await testSql()`SELECT id FROM budgets WHERE tenant_id = ${tenant}`;

    const second = await exported(tenant);
    expect(second.base).toBe(created.body.base_sha256);
    const edited = await apply(tenantBundle(tenant, 9000), second.base);
    expect(edited.status).toBe(200);
    expect(edited.body.changes).toMatchObject({ budgets: { changed: 1 }, total: 1 });
    const [ruleAfter] =
      await testSql()`SELECT id, updated_at FROM capability_rules WHERE tenant_id = ${tenant}`;
    const [budgetAfter] = await testSql()`SELECT id, limit_cents FROM budgets WHERE tenant_id = ${tenant}`;
    // The unchanged rule is untouched; the budget is the same row, changed.
    expect(ruleAfter).toEqual(rule);
    expect(budgetAfter).toMatchObject({ id: budget?.id, limit_cents: "9000" });

    const events = await auditOf(edited);
    expect(events.map((event) => event.action)).toEqual(["budgets.update", "policy.bundle_applied"]);
    expect(events[1]).toMatchObject({
      actor: admin.principalId,
      actorKeyId: admin.keyId,
      targetType: "policy",
      targetId: tenant,
      before: { base_sha256: second.base },
      after: { base_sha256: edited.body.base_sha256 },
    });
    expect(events[0]).toMatchObject({ actor: admin.principalId, actorKeyId: admin.keyId });

    // Leaving a section out leaves it; an empty section removes its rows.
    const removed = await apply(
      { format: "policy-bundle/v1", scope: tenant, budgets: [] },
      edited.body.base_sha256 as string,
    );
    expect(removed.status).toBe(200);
    expect(removed.body.changes).toMatchObject({ budgets: { removed: 1 }, total: 1 });
    const after = await exported(tenant);
    expect(after.bundle.capability_rules).toHaveLength(1);
    expect(after.bundle.budgets).toEqual([]);
  });

  it("is all or nothing: one row the database refuses undoes every other row of the apply", async () => {
    const tenant = newTenant();
    const before = await exported(tenant);
    // A constraint only this test has: the budget (written after the rule) fails inside the transaction.
    await testSql()`ALTER TABLE budgets ADD CONSTRAINT test_no_777 CHECK (limit_cents <> 777)`;
    try {
      const sent = await apply(tenantBundle(tenant, 777), before.base);
      expect(sent.status).toBe(400);
      expect(errorOf(sent).code).toBe("bad_request");
    } finally {
      await testSql()`ALTER TABLE budgets DROP CONSTRAINT test_no_777`;
    }
    const after = await exported(tenant);
    expect(after.base).toBe(before.base);
    expect(after.version).toBe(before.version);
    expect(await testSql()`SELECT id FROM capability_rules WHERE tenant_id = ${tenant}`).toHaveLength(0);
  });
});

describe("scopes", () => {
  it("a tenant bundle touches only its tenant: an empty section there leaves other tenants' rows", async () => {
    const [mine, theirs] = [newTenant(), newTenant()];
    expect((await apply(tenantBundle(theirs), (await exported(theirs)).base)).status).toBe(200);
    expect((await apply(tenantBundle(mine), (await exported(mine)).base)).status).toBe(200);
    const theirsBefore = await exported(theirs);
    const cleared = await apply(
      { format: "policy-bundle/v1", scope: mine, capability_rules: [], budgets: [] },
      (await exported(mine)).base,
    );
    expect(cleared.status).toBe(200);
    expect(cleared.body.changes).toMatchObject({ total: 2 });
    expect((await exported(theirs)).base).toBe(theirsBefore.base);
  });

  it('a "*" bundle changes the settings (audited) and a scope\'s base covers them', async () => {
    const before = await exported("*");
    const settings = before.bundle.settings as Row;
    const changed = { ...settings, unknown_skill_cost_cents: Number(settings.unknown_skill_cost_cents) + 1 };
    const validated = await send("POST", `${BUNDLE}/validate`, {
      bundle: { format: "policy-bundle/v1", scope: "*", settings: changed },
    });
    expect(validated.status).toBe(200);
    expect((validated.body.diff as Row).settings).toEqual({ before: settings, after: changed });
    const sent = await apply({ format: "policy-bundle/v1", scope: "*", settings: changed }, before.base);
    expect(sent.status).toBe(200);
    expect(sent.body.changes).toMatchObject({ settings: { changed: 1 }, total: 1 });
    const events = await auditOf(sent);
    expect(events.map((event) => event.action)).toEqual(["policy_settings.update", "policy.bundle_applied"]);
    const after = await exported("*");
    expect(after.base).toBe(sent.body.base_sha256);
    expect(after.base).not.toBe(before.base);
    // Put it back, so later tests of this file see the settings they expect.
    expect((await apply({ format: "policy-bundle/v1", scope: "*", settings }, after.base)).status).toBe(200);
  });
});

describe("the base hash", () => {
  it("a change through the admin API between validate and apply makes apply 409 with the current base", async () => {
    const tenant = newTenant();
    const start = await exported(tenant);
    expect((await apply(tenantBundle(tenant), start.base)).status).toBe(200);
    const edit = tenantBundle(tenant, 1234);
    const validated = await send("POST", `${BUNDLE}/validate`, { bundle: edit });
    expect(validated.status).toBe(200);
    expect(validated.body).toMatchObject({ valid: true, scope: tenant, refusals: [] });
    expect((validated.body.diff as Row).counts).toMatchObject({ budgets: { changed: 1 }, total: 1 });

    const [budget] = await testSql()`SELECT id FROM budgets WHERE tenant_id = ${tenant}`;
    const patched = await send("PATCH", `${BASE}/budgets/${budget?.id}`, { limit_cents: 42 });
    expect(patched.status).toBe(200);

    const sent = await apply(edit, validated.body.base_sha256 as string);
    expect(sent.status).toBe(409);
    expect(errorOf(sent).code).toBe("conflict");
    const now = await exported(tenant);
    expect((errorOf(sent).details as Row).base_sha256).toBe(now.base);
    expect(now.bundle.budgets).toMatchObject([{ limit_cents: 42 }]);
  });

  it("two applies raced on one base: exactly one wins, the other is 409", async () => {
    const tenant = newTenant();
    const start = await exported(tenant);
    const [a, b] = await Promise.all([
      apply(tenantBundle(tenant, 100), start.base),
      apply(tenantBundle(tenant, 200), start.base),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const winner = a.status === 200 ? 100 : 200;
    const now = await exported(tenant);
    expect(now.bundle.budgets).toMatchObject([{ limit_cents: winner }]);
    expect(now.version).toBe(start.version + 2);
  });
});

describe("bad bundles are 400s naming each path", () => {
  const tenant = "acme-bad";
  const base = "0".repeat(64);
  const cases: [string, unknown, string[]][] = [
    [
      "wrong types",
      {
        format: "policy-bundle/v1",
        scope: tenant,
        budgets: [{ tenant_id: tenant, period: "day", limit_cents: "lots" }],
      },
      ["bundle.budgets.0.limit_cents"],
    ],
    [
      "an unknown key in a row",
      {
        format: "policy-bundle/v1",
        scope: tenant,
        budgets: [{ tenant_id: tenant, period: "day", limit_cents: 1, colour: "red" }],
      },
      ["bundle.budgets.0"],
    ],
    ["an unknown section", { format: "policy-bundle/v1", scope: tenant, rules: [] }, ["bundle"]],
    ["a wrong format", { format: "policy-bundle/v0", scope: tenant }, ["bundle.format"]],
    [
      "two rows with one key",
      {
        format: "policy-bundle/v1",
        scope: tenant,
        budgets: [
          { tenant_id: tenant, period: "day", limit_cents: 1 },
          { tenant_id: tenant, period: "day", limit_cents: 2 },
        ],
      },
      ["bundle.budgets.1"],
    ],
    [
      "a row of another tenant",
      {
        format: "policy-bundle/v1",
        scope: tenant,
        capability_rules: [{ tenant_id: "other", skill_pattern: "*", effect: "deny" }],
      },
      ["bundle.capability_rules.0.tenant_id"],
    ],
    [
      "settings in a tenant bundle",
      {
        format: "policy-bundle/v1",
        scope: tenant,
        settings: { capability_default_effect: "deny", unknown_skill_cost_cents: 1 },
      },
      ["bundle.settings"],
    ],
  ];
  for (const [name, bundle, paths] of cases) {
    it(`${name}: validate and apply both answer 400 validation_failed`, async () => {
      for (const sent of [
        await send("POST", `${BUNDLE}/validate`, { bundle }),
        await apply(bundle as Row, base),
      ]) {
        expect(sent.status).toBe(400);
        expect(errorOf(sent).code).toBe("validation_failed");
        expect(issuePaths(sent)).toEqual(expect.arrayContaining(paths));
      }
    });
  }

  it("malformed envelopes: not JSON, no bundle, a bad expected base, an extra key, a bad scope", async () => {
    const ok = tenantBundle(newTenant());
    const broken = await send("POST", `${BUNDLE}/validate`, '{"bundle": {');
    expect(broken.status).toBe(400);
    for (const [body, path] of [
      [{}, "bundle"],
      [{ bundle: ok, expected_base_sha256: "nope" }, "expected_base_sha256"],
      [{ bundle: ok }, "expected_base_sha256"],
      [{ bundle: ok, expected_base_sha256: base, force: true }, ""],
      [{ bundle: [], expected_base_sha256: base }, "bundle"],
    ] as const) {
      const sent = await send("POST", `${BUNDLE}/apply`, body);
      expect(sent.status).toBe(400);
      expect(issuePaths(sent)).toContain(path);
    }
    const badScope = await send("GET", `${BUNDLE}?scope=${encodeURIComponent("no spaces!")}`);
    expect(badScope.status).toBe(400);
    expect(issuePaths(badScope)).toContain("scope");
  });
});

describe("who may apply", () => {
  it("a level-3 admin may not apply a row governing level 4; validate lists it, apply changes nothing", async () => {
    const low = await createTestKey("admin", { maxLevel: 3 });
    const tenant = newTenant();
    const start = await exported(tenant);
    const bundle = {
      format: "policy-bundle/v1",
      scope: tenant,
      approval_levels: [{ policy_type: "cost", tenant_id: tenant, approval_level: "manual_approve" }],
    };
    const validated = await send("POST", `${BUNDLE}/validate`, { bundle }, low.headers);
    expect(validated.status).toBe(200);
    expect(validated.body.refusals).toEqual([
      expect.objectContaining({
        path: "approval_levels[0]",
        change: "added",
        message: expect.stringMatching(/level 4/),
      }),
    ]);
    const sent = await apply(bundle, start.base, low.headers);
    expect(sent.status).toBe(403);
    expect(errorOf(sent).code).toBe("forbidden");
    expect(errorOf(sent).message).toMatch(/approval level 4, above your own level \(3\)/);
    const now = await exported(tenant);
    expect(now.base).toBe(start.base);
    expect(now.version).toBe(start.version);
    // Capability rules govern the top level: also refused, as through the admin API.
    const rule = await apply(tenantBundle(tenant), start.base, low.headers);
    expect(rule.status).toBe(403);
  });

  it("a level-3 admin may not remove a level-4 row, and may apply a bundle that changes only nothing", async () => {
    const low = await createTestKey("admin", { maxLevel: 3 });
    const tenant = newTenant();
    const start = await exported(tenant);
    const guarded = {
      format: "policy-bundle/v1",
      scope: tenant,
      approval_levels: [{ policy_type: "cost", tenant_id: tenant, approval_level: "manual_approve" }],
    };
    const created = await apply(guarded, start.base);
    expect(created.status).toBe(200);
    const base = created.body.base_sha256 as string;

    // Only rows that change are judged: the live policy as it is passes, whatever it governs.
    const same = await apply((await exported(tenant)).bundle, base, low.headers);
    expect(same.status).toBe(200);
    expect((same.body.changes as Row).total).toBe(0);

    const removal = await apply(
      { format: "policy-bundle/v1", scope: tenant, approval_levels: [] },
      base,
      low.headers,
    );
    expect(removal.status).toBe(403);
    const refusals = (errorOf(removal).details as { refusals: Row[] }).refusals;
    expect(refusals).toEqual([
      expect.objectContaining({
        path: "approval_levels",
        change: "removed",
        row: expect.objectContaining({ tenant_id: tenant }),
      }),
    ]);
    expect((await exported(tenant)).base).toBe(base);
  });

  it("approver and agent keys get 403 on every bundle route", async () => {
    const approver = await createTestKey("approver");
    const agent = await createTestKey("agent");
    for (const key of [approver, agent]) {
      expect((await send("GET", BUNDLE, undefined, key.headers)).status).toBe(403);
      expect(
        (await send("POST", `${BUNDLE}/validate`, { bundle: tenantBundle("x") }, key.headers)).status,
      ).toBe(403);
      expect((await apply(tenantBundle("x"), "0".repeat(64), key.headers)).status).toBe(403);
    }
  });

  it("no key is 401", async () => {
    expect((await send("GET", BUNDLE, undefined, {} as TestKey["headers"])).status).toBe(401);
  });
});
