// The runbook's emergency procedures as audited operations: disable auto-approve and restore it, and
// the runbook's database queries through the API.
import { beforeAll, describe, expect, it } from "vitest";
import { testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

let admin: TestKey;
let agent: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "ops-frank" });
  agent = await createTestKey("agent");
});

async function levels(): Promise<Record<string, string>> {
  const rows = (await testSql().query(
    "SELECT id, approval_level FROM policy_approval_levels ORDER BY id",
  )) as { id: string; approval_level: string }[];
  return Object.fromEntries(rows.map((row) => [String(row.id), row.approval_level]));
}

async function addLevel(tenant: string, approval_level: string): Promise<number> {
  const res = await postJson(
    "/api/v1/admin/policies/approval-levels",
    { policy_type: "cost", tenant_id: tenant, approval_level },
    admin.headers,
  );
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

describe("disable auto-approve, then restore", () => {
  it("raises every level below manual_approve, files requests pending, and restore puts each level back", async () => {
    const tenant = `em-${crypto.randomUUID().slice(0, 8)}`;
    const auto = await addLevel(tenant, "auto_approve");
    const owner = await addLevel(`${tenant}-o`, "owner_override");
    const before = await levels();

    const filedBefore = await postJson(
      "/api/v1/policy/requests",
      { policy_type: "cost", skill_id: "a.b", tenant_id: tenant, requested_by: agent.principalId },
      agent.headers,
    );
    expect(((await filedBefore.json()) as { status: string }).status).toBe("auto_approved");

    const disabled = await postJson(
      "/api/v1/admin/emergency/disable-auto-approve",
      { reason: "incident 7: agents misbehaving" },
      admin.headers,
    );
    expect(disabled.status).toBe(200);
    const body = (await disabled.json()) as {
      snapshot_id: number;
      changed: { id: number; approval_level: string }[];
    };
    expect(body.changed).toContainEqual({ id: auto, approval_level: "auto_approve" });
    expect(body.changed.map((row) => row.id)).not.toContain(owner);
    const during = await levels();
    for (const [id, level] of Object.entries(before)) {
      const raised = ["auto_approve", "pre_approved", "agent_approve"].includes(level);
      // Never lowered: owner_override (and unknown names) stay as they were.
      expect(during[id], id).toBe(raised ? "manual_approve" : level);
    }

    const filedDuring = await postJson(
      "/api/v1/policy/requests",
      { policy_type: "cost", skill_id: "a.b", tenant_id: tenant, requested_by: agent.principalId },
      agent.headers,
    );
    expect(await filedDuring.json()).toMatchObject({ status: "pending", required_level: 4 });

    // A row someone changes meanwhile is theirs: restore leaves it.
    await call(`/api/v1/admin/policies/approval-levels/${auto}`, {
      method: "PATCH",
      headers: { ...admin.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ approval_level: "owner_override" }),
    });

    const restored = await postJson(
      "/api/v1/admin/emergency/restore-auto-approve",
      { reason: "incident 7 over" },
      admin.headers,
    );
    expect(restored.status).toBe(200);
    const after = await levels();
    for (const [id, level] of Object.entries(before)) {
      expect(after[id], id).toBe(id === String(auto) ? "owner_override" : level);
    }
    // Nothing left to restore.
    const again = await postJson(
      "/api/v1/admin/emergency/restore-auto-approve",
      { reason: "twice" },
      admin.headers,
    );
    expect(again.status).toBe(409);
    expect(((await again.json()) as ErrorEnvelope).error.code).toBe("conflict");
  });

  it("is audited: the operation with its reason, and every row change through the policy trigger", async () => {
    const audit = (await testSql().query(
      "SELECT actor, action, after FROM audit_events WHERE action LIKE 'emergency.%' ORDER BY id",
    )) as { actor: string; action: string; after: { reason: string } }[];
    expect(audit.map((row) => [row.actor, row.action, row.after.reason])).toEqual([
      ["ops-frank", "emergency.disable_auto_approve", "incident 7: agents misbehaving"],
      ["ops-frank", "emergency.restore_auto_approve", "incident 7 over"],
      ["ops-frank", "emergency.restore_auto_approve", "twice"],
    ]);
    const [rowChanges] = (await testSql().query(
      "SELECT count(*)::int AS n FROM audit_events WHERE target_type = 'policy_approval_levels' AND actor = 'ops-frank' AND action LIKE '%update%'",
    )) as { n: number }[];
    expect(rowChanges?.n).toBeGreaterThanOrEqual(2);
  });

  it("needs an admin at manual_approve or above, and a reason", async () => {
    const low = await createTestKey("admin", { maxLevel: 3 });
    expect(
      (await postJson("/api/v1/admin/emergency/disable-auto-approve", { reason: "x" }, low.headers)).status,
    ).toBe(403);
    expect(
      (await postJson("/api/v1/admin/emergency/disable-auto-approve", { reason: "x" }, agent.headers)).status,
    ).toBe(403);
    expect((await postJson("/api/v1/admin/emergency/disable-auto-approve", {}, admin.headers)).status).toBe(
      400,
    );
  });
});

describe("GET /api/v1/admin/stats", () => {
  it("answers the runbook's database queries: status distribution, recent requests with history, size, indexes", async () => {
    const res = await call("/api/v1/admin/stats?recent=3", { headers: admin.headers });
    expect(res.status).toBe(200);
    const stats = (await res.json()) as {
      status_distribution: Record<string, number>;
      recent_requests: { id: string; status_history_json: unknown[] }[];
      table_size: string;
      indexes: string[];
    };
    expect(stats.status_distribution.auto_approved).toBeGreaterThanOrEqual(1);
    expect(stats.status_distribution.pending).toBeGreaterThanOrEqual(1);
    expect(stats.recent_requests.length).toBeGreaterThanOrEqual(1);
    expect(stats.recent_requests.length).toBeLessThanOrEqual(3);
    expect(stats.recent_requests[0]?.status_history_json.length).toBeGreaterThanOrEqual(1);
    expect(stats.table_size).toMatch(/^\d+ (bytes|kB|MB)$/);
    expect(stats.indexes).toContain("approval_requests_pkey");
    expect((await call("/api/v1/admin/stats", { headers: agent.headers })).status).toBe(403);
  });
});
