// The approval lifecycle and its races: decisions, levels, vetoes, expiry, escalation, self-approval,
// and concurrent requests settled by Postgres (exactly one transition, one history entry, one event).
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../src/db/client.ts";
import { approvalRequests } from "../src/db/schema.ts";
import { applyTransition } from "../src/db/transitions.ts";
import { WEBHOOK_EVENTS } from "../src/domain/vocabulary.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

interface ApprovalRequest {
  request_id: string;
  status: string;
  required_level: number;
  current_level: number;
  status_history: { from_status: string | null; to_status: string; actor: string; reason: string | null }[];
  approvers: { approver_id: string; level: number; action: string }[];
  resolved_at: string | null;
}

const BASE = "/api/v1/policy/requests";
let admin: TestKey;
let agent: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  agent = await createTestKey("agent", { principalId: "bot-1" });
});

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;

async function fileRequest(overrides: Record<string, unknown> = {}, key: TestKey = agent, headers = {}) {
  const res = await postJson(
    BASE,
    {
      policy_type: "cost",
      skill_id: "payments.transfer",
      tenant_id: "acme",
      payload: { amount: 120 },
      requested_by: "bot-1",
      webhook_url: "https://hooks.example.com/policy",
      ...overrides,
    },
    { ...key.headers, ...headers },
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { request_id: string; status: string; required_level: number };
}

async function decide(
  id: string,
  kind: "approve" | "reject",
  key: TestKey,
  body: Record<string, unknown> = {},
) {
  const res = await postJson(`${BASE}/${id}/${kind}`, body, key.headers);
  return { status: res.status, body: (await res.json()) as ApprovalRequest & ErrorEnvelope };
}

async function get(id: string, key: TestKey = admin) {
  return (await (await call(`${BASE}/${id}`, { headers: key.headers })).json()) as ApprovalRequest;
}

async function outboxEvents(id: string): Promise<string[]> {
  const rows = (await testSql()`SELECT event FROM webhook_outbox WHERE request_id = ${id} ORDER BY id`) as {
    event: string;
  }[];
  return rows.map((row) => row.event);
}

async function withPolicy(tenant: string, body: Record<string, unknown>) {
  const res = await postJson(
    "/api/v1/admin/policies/approval-levels",
    { policy_type: "cost", tenant_id: tenant, ...body },
    admin.headers,
  );
  expect(res.status).toBe(201);
}

describe("deciding a request", () => {
  it("approves at the approver key's level, with history, approvers, the event and the spend", async () => {
    const approver = await createTestKey("approver", { principalId: "carol", maxLevel: 4 });
    const { request_id } = await fileRequest();
    const { status, body } = await decide(request_id, "approve", approver, { notes: "looks right" });
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "approved", current_level: 4, required_level: 3 });
    expect(body.approvers).toEqual([
      expect.objectContaining({ approver_id: "carol", level: 4, action: "approve" }),
    ]);
    expect(body.status_history.map((entry) => [entry.from_status, entry.to_status, entry.actor])).toEqual([
      [null, "pending", "bot-1"],
      ["pending", "approved", "carol"],
    ]);
    expect(body.resolved_at).not.toBeNull();
    expect(await outboxEvents(request_id)).toEqual([WEBHOOK_EVENTS.created, WEBHOOK_EVENTS.approved]);
    const ledger =
      await testSql()`SELECT source, amount_cents::int AS amount_cents FROM spend_ledger WHERE reference = ${request_id}`;
    expect(ledger).toEqual([{ source: "approval", amount_cents: 10 }]);
  });

  it("records a lower-level approval as a note that decides nothing, then approves when the level is reached", async () => {
    const tenant = newTenant();
    await withPolicy(tenant, { approval_level: "manual_approve" });
    const low = await createTestKey("approver", { maxLevel: 3 });
    const high = await createTestKey("approver", { maxLevel: 4 });
    const { request_id, required_level } = await fileRequest({ tenant_id: tenant });
    expect(required_level).toBe(4);
    const first = await decide(request_id, "approve", low);
    expect(first.body).toMatchObject({ status: "pending", current_level: 0 });
    expect(first.body.approvers).toMatchObject([{ approver_id: low.principalId, level: 3, action: "note" }]);
    const second = await decide(request_id, "approve", high);
    expect(second.body).toMatchObject({ status: "approved", current_level: 4 });
    expect(await outboxEvents(request_id)).toEqual([
      WEBHOOK_EVENTS.created,
      WEBHOOK_EVENTS.noteAdded,
      WEBHOOK_EVENTS.approved,
    ]);
  });

  it("needs M distinct approvers where the policy sets required_approvals", async () => {
    const tenant = newTenant();
    await withPolicy(tenant, { approval_level: "agent_approve", required_approvals: 2 });
    const [first, second] = [await createTestKey("approver"), await createTestKey("approver")];
    const { request_id } = await fileRequest({ tenant_id: tenant });
    expect((await decide(request_id, "approve", first)).body.status).toBe("pending");
    const again = await decide(request_id, "approve", first);
    expect(again.status).toBe(409);
    expect((await decide(request_id, "approve", second)).body.status).toBe("approved");
  });

  it("lets any reject veto, even after approvals", async () => {
    const tenant = newTenant();
    await withPolicy(tenant, { approval_level: "agent_approve", required_approvals: 2 });
    const { request_id } = await fileRequest({ tenant_id: tenant });
    await decide(request_id, "approve", await createTestKey("approver"));
    const veto = await decide(
      request_id,
      "reject",
      await createTestKey("approver", { principalId: "dave" }),
      {
        notes: "not this week",
      },
    );
    expect(veto.body).toMatchObject({ status: "rejected" });
    expect(veto.body.status_history.at(-1)).toMatchObject({
      to_status: "rejected",
      actor: "dave",
      reason: "not this week",
    });
  });

  it("answers 409 with the current status to a decision on a decided request", async () => {
    const approver = await createTestKey("approver");
    const { request_id } = await fileRequest();
    await decide(request_id, "reject", approver);
    for (const kind of ["approve", "reject"] as const) {
      const late = await decide(request_id, kind, await createTestKey("approver"));
      expect(late.status).toBe(409);
      expect(late.body.error).toMatchObject({ code: "conflict", details: { status: "rejected" } });
    }
    expect((await get(request_id)).status_history).toHaveLength(2);
  });

  it("expires a request decided after expires_at: 409, and the request becomes expired with history", async () => {
    const { request_id } = await fileRequest({ expires_in_seconds: 30 });
    await testSql()`UPDATE approval_requests SET expires_at = now() - interval '1 second' WHERE id = ${request_id}`;
    const late = await decide(request_id, "approve", await createTestKey("approver"));
    expect(late.status).toBe(409);
    expect(late.body.error.details).toEqual({ status: "expired" });
    const row = await get(request_id);
    expect(row.status).toBe("expired");
    expect(row.status_history.at(-1)).toMatchObject({
      from_status: "pending",
      to_status: "expired",
      actor: "system",
    });
    expect(await outboxEvents(request_id)).toEqual([WEBHOOK_EVENTS.created, WEBHOOK_EVENTS.expired]);
  });

  it("still lets an escalated request be decided", async () => {
    const { request_id } = await fileRequest();
    const escalated = await applyTransition(createDb(testEnv()), {
      where: sql`${approvalRequests.id} = ${request_id}`,
      toStatus: "escalated",
      actor: "system",
      reason: "no decision within 300 s",
      event: WEBHOOK_EVENTS.escalated,
      before: null,
      at: new Date(),
    });
    expect(escalated.map((row) => row.status)).toEqual(["escalated"]);
    const approved = await decide(request_id, "approve", await createTestKey("approver"));
    expect(approved.body.status_history.map((entry) => entry.to_status)).toEqual([
      "pending",
      "escalated",
      "approved",
    ]);
  });
});

describe("edges a review found", () => {
  it("refuses an empty webhook_url instead of storing a destination-less webhook", async () => {
    const res = await postJson(
      BASE,
      {
        policy_type: "cost",
        skill_id: "a.b",
        tenant_id: "acme",
        payload: {},
        requested_by: "bot-1",
        webhook_url: "",
      },
      agent.headers,
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorEnvelope).error.details).toMatchObject({
      issues: [{ path: "webhook_url" }],
    });
  });

  it("bulk reject takes escalated requests with the pending ones", async () => {
    const tenant = newTenant();
    const { request_id } = await fileRequest({ tenant_id: tenant });
    await applyTransition(createDb(testEnv()), {
      where: sql`${approvalRequests.id} = ${request_id}`,
      toStatus: "escalated",
      actor: "system",
      reason: "timeout",
      event: WEBHOOK_EVENTS.escalated,
      before: null,
      at: new Date(),
    });
    const res = await postJson(
      `${BASE}/reject-pending`,
      { reason: "incident", tenant_id: tenant },
      admin.headers,
    );
    expect(await res.json()).toEqual({ rejected: 1, request_ids: [request_id] });
    expect((await get(request_id)).status_history.at(-1)).toMatchObject({
      from_status: "escalated",
      to_status: "rejected",
    });
  });

  it("waits a whole ?wait=1", async () => {
    const { request_id } = await fileRequest();
    const started = Date.now();
    await call(`${BASE}/${request_id}?wait=1`, { headers: admin.headers });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });
});

describe("who may decide", () => {
  it("never lets the requester approve: by requested_by or by the key that filed it", async () => {
    const self = await createTestKey("approver", { principalId: "bot-1" });
    const { request_id } = await fileRequest();
    expect((await decide(request_id, "approve", self)).status).toBe(403);
    const filedByAdmin = await fileRequest({ requested_by: "someone-else" }, admin);
    expect((await decide(filedByAdmin.request_id, "approve", admin)).status).toBe(403);
    expect((await get(request_id)).status).toBe("pending");
  });

  it("takes identity and level from the key: a foreign approver_id or a higher level is 403", async () => {
    const approver = await createTestKey("approver", { principalId: "erin", maxLevel: 3 });
    const { request_id } = await fileRequest();
    expect((await decide(request_id, "approve", approver, { approver_id: "mallory" })).status).toBe(403);
    expect((await decide(request_id, "approve", approver, { level: 5 })).status).toBe(403);
    expect((await decide(request_id, "approve", approver, { level: "owner_override" })).status).toBe(403);
    const ok = await decide(request_id, "approve", approver, { approver_id: "erin", level: 3 });
    expect(ok.body).toMatchObject({ status: "approved", current_level: 3 });
  });

  it("hides requests of other tenants (404) from tenant-scoped approvers", async () => {
    const outsider = await createTestKey("approver", { tenantId: "globex" });
    const { request_id } = await fileRequest();
    expect((await decide(request_id, "approve", outsider)).status).toBe(404);
    expect((await call(`${BASE}/${request_id}`, { headers: outsider.headers })).status).toBe(404);
    const insider = await createTestKey("approver", { tenantId: "acme" });
    expect((await decide(request_id, "approve", insider)).status).toBe(200);
  });

  it("refuses agents the decision routes", async () => {
    const { request_id } = await fileRequest();
    expect((await decide(request_id, "approve", await createTestKey("agent"))).status).toBe(403);
  });
});

describe("races settled by Postgres", () => {
  it("two approvers completing one request at once: one approved transition, one history entry, one event", async () => {
    const { request_id } = await fileRequest();
    const approvers = await Promise.all([createTestKey("approver"), createTestKey("approver")]);
    const results = await Promise.all(approvers.map((key) => decide(request_id, "approve", key)));
    expect(results.map((result) => result.status).sort()).toEqual([200, 409]);
    const row = await get(request_id);
    expect(row.status).toBe("approved");
    expect(row.status_history.filter((entry) => entry.to_status === "approved")).toHaveLength(1);
    expect(row.approvers).toHaveLength(1);
    expect(
      (await outboxEvents(request_id)).filter((event) => event === WEBHOOK_EVENTS.approved),
    ).toHaveLength(1);
    expect(
      await testSql()`SELECT count(*)::int AS n FROM spend_ledger WHERE reference = ${request_id}`,
    ).toEqual([{ n: 1 }]);
  });

  it("approve racing reject: exactly one wins, the other gets 409", async () => {
    for (let round = 0; round < 5; round++) {
      const { request_id } = await fileRequest();
      const [approve, reject] = await Promise.all([
        decide(request_id, "approve", await createTestKey("approver")),
        decide(request_id, "reject", await createTestKey("approver")),
      ]);
      expect([approve.status, reject.status].sort()).toEqual([200, 409]);
      const row = await get(request_id);
      expect(["approved", "rejected"]).toContain(row.status);
      expect(row.status_history).toHaveLength(2);
      expect(await outboxEvents(request_id)).toHaveLength(2);
    }
  });

  it("many approvers of an M-of-N request at once: every approval kept, approved exactly once", async () => {
    const tenant = newTenant();
    await withPolicy(tenant, { approval_level: "agent_approve", required_approvals: 3 });
    const { request_id } = await fileRequest({ tenant_id: tenant });
    const keys = await Promise.all(Array.from({ length: 5 }, () => createTestKey("approver")));
    const results = await Promise.all(keys.map((key) => decide(request_id, "approve", key)));
    // Three approvals land (the third approves); the two after it find the request decided.
    expect(results.filter((result) => result.status === 200)).toHaveLength(3);
    expect(results.filter((result) => result.status === 409)).toHaveLength(2);
    const row = await get(request_id);
    expect(row.status).toBe("approved");
    expect(new Set(row.approvers.map((entry) => entry.approver_id)).size).toBe(3);
    expect(row.status_history.filter((entry) => entry.to_status === "approved")).toHaveLength(1);
  });

  it("a double-submitted create with one Idempotency-Key makes one row", async () => {
    const key = `idem-${crypto.randomUUID()}`;
    const body = { skill_id: `double.${crypto.randomUUID().slice(0, 6)}` };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => fileRequest(body, agent, { "Idempotency-Key": key })),
    );
    expect(new Set(answers.map((answer) => answer.request_id)).size).toBe(1);
    const rows =
      await testSql()`SELECT count(*)::int AS n FROM approval_requests WHERE skill_id = ${body.skill_id}`;
    expect(rows).toEqual([{ n: 1 }]);
    expect(await outboxEvents(answers[0]?.request_id ?? "")).toEqual([WEBHOOK_EVENTS.created]);
  });
});

describe("the runbook's SQL shows what the API did", () => {
  it("status distribution and the audit trail match the requests filed and decided", async () => {
    const tenant = newTenant();
    const approver = await createTestKey("approver");
    const filed: string[] = [];
    for (let i = 0; i < 3; i++) filed.push((await fileRequest({ tenant_id: tenant })).request_id);
    await decide(filed[0] ?? "", "approve", approver);
    await decide(filed[1] ?? "", "reject", approver);
    const distribution = (await testSql().query(
      `SELECT status, COUNT(*) FROM approval_requests WHERE tenant_id = $1 GROUP BY status ORDER BY status`,
      [tenant],
    )) as { status: string; count: string }[];
    expect(distribution.map((row) => [row.status, Number(row.count)])).toEqual([
      ["approved", 1],
      ["pending", 1],
      ["rejected", 1],
    ]);
    const recent = (await testSql().query(
      "SELECT id, status, status_history_json, created_at FROM approval_requests ORDER BY created_at DESC LIMIT 10;",
    )) as { id: string; status: string; status_history_json: { to_status: string }[] }[];
    const approved = recent.find((row) => row.id === filed[0]);
    expect(approved?.status_history_json.map((entry) => entry.to_status)).toEqual(["pending", "approved"]);
  });
});
