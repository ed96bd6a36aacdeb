// The escalation job's operator API: read the switch and the last run, pause and resume (audited,
// runs skip while paused), and run the job now.
import { beforeAll, describe, expect, it } from "vitest";
import { testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const BASE = "/api/v1/admin/escalation";
let admin: TestKey;
let agent: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "ops-erin" });
  agent = await createTestKey("agent", { principalId: "bot-esc" });
});

async function status() {
  const res = await call(BASE, { headers: admin.headers });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function run() {
  const res = await postJson(`${BASE}/run`, {}, admin.headers);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function overdueRequest(): Promise<string> {
  const res = await postJson(
    "/api/v1/policy/requests",
    {
      policy_type: "cost",
      skill_id: "a.b",
      tenant_id: `esc-${crypto.randomUUID().slice(0, 8)}`,
      requested_by: "bot-esc",
    },
    agent.headers,
  );
  const { request_id } = (await res.json()) as { request_id: string };
  await testSql().query(
    "UPDATE approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1",
    [request_id],
  );
  return request_id;
}

async function statusOf(id: string): Promise<string> {
  const [row] = await testSql().query("SELECT status FROM approval_requests WHERE id = $1", [id]);
  return String(row?.status);
}

describe("escalation operator API", () => {
  it("runs the job now and answers its summary, which GET then shows as the last run", async () => {
    const id = await overdueRequest();
    const summary = await run();
    expect(summary).toMatchObject({ job: "escalation", trigger: "manual", paused: false, cut_short: false });
    expect(summary.expired).toBeGreaterThanOrEqual(1);
    expect(await statusOf(id)).toBe("expired");
    const [row] = await testSql().query(
      "SELECT status_history_json->-1 AS last FROM approval_requests WHERE id = $1",
      [id],
    );
    expect(row?.last).toMatchObject({ to_status: "expired", actor: "escalation_worker" });
    const current = await status();
    expect(current.paused).toBe(false);
    expect(current.last_run).toMatchObject({ trigger: "manual", expired: summary.expired });
    expect(typeof current.last_run_at).toBe("string");
  });

  it("pauses with a reason (audited): runs skip and change nothing until resumed", async () => {
    const paused = await postJson(
      `${BASE}/pause`,
      { reason: "incident 42: approvers offline" },
      admin.headers,
    );
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({
      paused: true,
      reason: "incident 42: approvers offline",
      changed_by: "ops-erin",
    });
    const id = await overdueRequest();
    expect(await run()).toMatchObject({ paused: true, expired: 0, escalated: 0, batches: 0 });
    expect(await statusOf(id)).toBe("pending");

    const resumed = await postJson(`${BASE}/resume`, { reason: "approvers back" }, admin.headers);
    expect(await resumed.json()).toMatchObject({ paused: false, reason: "approvers back" });
    expect((await run()).expired).toBeGreaterThanOrEqual(1);
    expect(await statusOf(id)).toBe("expired");

    const audit = await testSql().query(
      "SELECT actor, action, after FROM audit_events WHERE target_type = 'job' AND target_id = 'escalation' ORDER BY id",
    );
    expect(audit).toEqual([
      {
        actor: "ops-erin",
        action: "escalation.pause",
        after: { paused: true, reason: "incident 42: approvers offline" },
      },
      { actor: "ops-erin", action: "escalation.resume", after: { paused: false, reason: "approvers back" } },
    ]);
  });

  it("needs a reason to pause or resume, and an admin key", async () => {
    const noReason = await postJson(`${BASE}/pause`, {}, admin.headers);
    expect(noReason.status).toBe(400);
    expect(((await noReason.json()) as ErrorEnvelope).error.details).toMatchObject({
      issues: [{ path: "reason" }],
    });
    for (const path of ["/pause", "/resume", "/run"]) {
      expect((await postJson(`${BASE}${path}`, { reason: "x" }, agent.headers)).status).toBe(403);
    }
    const approver = await createTestKey("approver", { maxLevel: 5 });
    expect((await call(BASE, { headers: approver.headers })).status).toBe(403);
    expect((await status()).paused).toBe(false);
  });
});
