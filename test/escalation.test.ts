// The escalation job through the Cron Trigger entry (worker.scheduled() inside workerd, against this
// file's own Postgres): expiry and escalation with history, outbox events and metrics; a chain of
// tiers; overlapping runs taking each request exactly once; a backlog of thousands worked off in
// bounded batches over consecutive runs; the pause switch (persisted, audited); the last run.
//
// The job clock is max(now, scheduledTime), so a test moves time by scheduling a run in the future.
// A run processes every overdue row of the database, so the tests run in order (vitest's default in a
// file) and each starts with no open request left by another (beforeEach resolves leftovers).
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { Principal } from "../src/domain/access.ts";
import type { StatusHistoryEntry } from "../src/domain/vocabulary.ts";
import { WEBHOOK_EVENTS } from "../src/domain/vocabulary.ts";
import type { Bindings } from "../src/env.ts";
import worker from "../src/index.ts";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { createServiceContext, type ServiceContext } from "../src/services/context.ts";
import {
  ESCALATION_ACTOR,
  type EscalationRunSummary,
  escalationStatus,
  runEscalation,
  setEscalationPaused,
} from "../src/services/escalation.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";

const REQUESTS = "/api/v1/policy/requests";
const WEBHOOK_URL = "https://hooks.example.com/x";
const EXPIRED_REASON = "expired before a decision";
const NO_ONE = "no one (the policy names no escalate_to)";

let admin: TestKey;
let agent: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  agent = await createTestKey("agent", { principalId: "esc-bot" });
});

// Runs process every overdue row of the database: start each test with none open, and the job running.
beforeEach(async () => {
  const sql = testSql();
  await sql`UPDATE approval_requests SET status = 'cancelled', escalation_deadline = NULL, resolved_at = now()
    WHERE status IN ('pending', 'escalated')`;
  await sql`UPDATE job_controls SET paused = false WHERE job = 'escalation'`;
});

const newTenant = () => `esc-${crypto.randomUUID()}`;

/** A status_history entry as the API returns it. */
type HistoryEntry = StatusHistoryEntry;

interface ApiRequest {
  request_id: string;
  status: string;
  escalate_to: string | null;
  status_history: HistoryEntry[];
  resolved_at: string | null;
}

type RunLine = EscalationRunSummary & { msg: string; level: string; run_id: string };

/** Calls scheduled() once per clock, all at the same time; returns each run's escalation_run line. */
async function runCron(clocks: number[], overrides: Partial<Bindings> = {}): Promise<RunLine[]> {
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    await Promise.all(
      clocks.map(async (clock) => {
        const ctx = createExecutionContext();
        await worker.scheduled(
          createScheduledController({ cron: "* * * * *", scheduledTime: clock }),
          testEnv({ LOG_LEVEL: "info", ...overrides }),
          ctx,
        );
        await waitOnExecutionContext(ctx);
      }),
    );
    return log.mock.calls
      .map(([line]) => JSON.parse(String(line)) as RunLine)
      .filter((line) => line.msg === "escalation_run");
  } finally {
    log.mockRestore();
  }
}

async function runOnce(clock: number, overrides: Partial<Bindings> = {}): Promise<RunLine> {
  const runs = await runCron([clock], overrides);
  expect(runs).toHaveLength(1);
  const [run] = runs;
  if (!run) throw new Error("no escalation_run line");
  expect(run).toMatchObject({ job: "escalation", trigger: "cron", now: new Date(clock).toISOString() });
  return run;
}

/** A service context like the one scheduled() builds, for calling the job's services directly. */
function serviceContext(metrics = new MetricsBuffer()): ServiceContext {
  return createServiceContext({
    env: testEnv(),
    log: createLogger("error"),
    metrics,
    waitUntil: () => {},
    requestId: "run_escalation_test",
  });
}

const OPS: Principal = {
  keyId: "test",
  principalId: "ops",
  role: "admin",
  maxLevel: 5,
  tenantId: null,
  agentIds: null,
};

async function fileRequest(tenant: string, overrides: Record<string, unknown> = {}) {
  const res = await postJson(
    REQUESTS,
    {
      policy_type: "cost",
      skill_id: "payments.transfer",
      tenant_id: tenant,
      payload: { amount: 120 },
      requested_by: agent.principalId,
      webhook_url: WEBHOOK_URL,
      ...overrides,
    },
    agent.headers,
  );
  expect(res.status, await res.clone().text()).toBe(200);
  const body = (await res.json()) as {
    request_id: string;
    status: string;
    escalate_to: string | null;
    created_at: string;
  };
  expect(body.status).toBe("pending");
  return { ...body, createdMs: Date.parse(body.created_at) };
}

async function withPolicy(tenant: string, body: Record<string, unknown>) {
  const res = await postJson(
    "/api/v1/admin/policies/approval-levels",
    { policy_type: "cost", tenant_id: tenant, approval_level: "agent_approve", ...body },
    admin.headers,
  );
  expect(res.status, await res.clone().text()).toBe(201);
}

async function getRequest(id: string, key: TestKey = admin): Promise<ApiRequest> {
  const res = await call(`${REQUESTS}/${id}`, { headers: key.headers });
  expect(res.status).toBe(200);
  return (await res.json()) as ApiRequest;
}

interface DbRow {
  status: string;
  escalate_to: string | null;
  escalation_tier: number;
  deadline_ms: number | null;
  escalated_at_ms: number | null;
  resolved_at_ms: number | null;
  created_ms: number;
  history: HistoryEntry[];
}

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

async function dbRow(id: string): Promise<DbRow> {
  const rows = (await testSql().query(
    `SELECT status, escalate_to, escalation_tier, ${ms("escalation_deadline")} AS deadline_ms,
       ${ms("escalated_at")} AS escalated_at_ms, ${ms("resolved_at")} AS resolved_at_ms,
       ${ms("created_at")} AS created_ms, status_history_json AS history
     FROM approval_requests WHERE id = $1`,
    [id],
  )) as DbRow[];
  expect(rows).toHaveLength(1);
  return rows[0] as DbRow;
}

async function outboxEvents(id: string): Promise<string[]> {
  const rows = (await testSql()`SELECT event FROM webhook_outbox WHERE request_id = ${id} ORDER BY id`) as {
    event: string;
  }[];
  return rows.map((row) => row.event);
}

const transitions = (history: HistoryEntry[]) =>
  history.map((entry) => [entry.from_status, entry.to_status, entry.actor, entry.reason]);

/**
 * Inserts `count` open requests of `tenant` straight into the table: odd n past expires_at (and past
 * their escalation deadline: expiry wins), even n unexpired with the escalation deadline passed. Each
 * carries a one-tier chain to "backlog-oncall" in its policy snapshot and a webhook_url.
 */
async function seedOverdue(tenant: string, count: number): Promise<void> {
  const base = String((crypto.getRandomValues(new Uint32Array(1))[0] ?? 0) * 65536);
  await testSql()`
    INSERT INTO approval_requests (id, correlation_id, status, status_history_json, policy_type, skill_id,
      tenant_id, payload, payload_hash, requested_by, required_level, escalate_to, policy_snapshot,
      webhook_url, expires_at, escalation_deadline)
    SELECT 'apr_' || lpad(to_hex(${base}::bigint + n), 16, '0'), ${tenant}::text || '-' || n, 'pending',
      jsonb_build_array(jsonb_build_object('from_status', NULL, 'to_status', 'pending', 'actor', 'seed',
        'reason', 'seeded', 'timestamp', now()::text)),
      'cost', 'payments.transfer', ${tenant}::text, '{}'::jsonb, 'seed', 'seed', 3, 'backlog-oncall',
      '{"escalation_chain": [{"escalate_to": "backlog-oncall", "after_seconds": 60}]}'::jsonb,
      'https://hooks.example.com/backlog',
      CASE WHEN n % 2 = 1 THEN now() - n * interval '1 second' ELSE now() + interval '1 hour' END,
      now() - n * interval '1 second' - interval '1 minute'
    FROM generate_series(1, ${count}::int) AS n`;
}

/** Per status: how many of the tenant's requests, with how many history entries and outbox events. */
async function outcomeByStatus(tenant: string) {
  return (await testSql()`
    SELECT r.status, jsonb_array_length(r.status_history_json)::int AS history,
      (SELECT count(*) FROM webhook_outbox o WHERE o.request_id = r.id)::int AS events,
      (SELECT string_agg(o.event, ',') FROM webhook_outbox o WHERE o.request_id = r.id) AS event,
      r.escalation_tier::int AS tier, r.escalate_to, r.escalation_deadline IS NULL AS deadline_cleared,
      count(*)::int AS requests
    FROM approval_requests r WHERE r.tenant_id = ${tenant}
    GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1`) as Record<string, unknown>[];
}

/** The seeded rows' expected end state: half expired, half escalated, each changed exactly once. */
function seededOutcome(count: number) {
  return [
    {
      status: "escalated",
      history: 2,
      events: 1,
      event: WEBHOOK_EVENTS.escalated,
      tier: 1,
      escalate_to: "backlog-oncall",
      deadline_cleared: true,
      requests: count / 2,
    },
    {
      status: "expired",
      history: 2,
      events: 1,
      event: WEBHOOK_EVENTS.expired,
      tier: 0,
      escalate_to: "backlog-oncall",
      deadline_cleared: true,
      requests: count / 2,
    },
  ];
}

const processed = (run: EscalationRunSummary) => run.expired + run.escalated;

/** The summary fields of a run's log line (without the logger's time, level, msg and run_id). */
function summaryOf(line: RunLine): Omit<EscalationRunSummary, "duration_ms"> {
  const { job, trigger, now, paused, expired, escalated, batches, cut_short } = line;
  return { job, trigger, now, paused, expired, escalated, batches, cut_short };
}

async function lastRun() {
  const [row] = (await testSql().query(
    `SELECT last_run, ${ms("last_run_at")} AS last_run_at_ms FROM job_controls WHERE job = 'escalation'`,
  )) as { last_run: Record<string, unknown> | null; last_run_at_ms: number | null }[];
  if (!row) throw new Error("no job_controls row for escalation");
  return row;
}

describe("the escalation job on the Cron Trigger", () => {
  it("expires a request past expires_at: status, resolved_at, history, outbox event, metric; GET agrees", async () => {
    const tenant = newTenant();
    const filed = await fileRequest(tenant, { expires_in_seconds: 30 });
    const clock = filed.createdMs + 31_000;
    const metrics = recordingDataset();
    const run = await runOnce(clock, { METRICS: metrics });
    expect(run).toMatchObject({ paused: false, expired: 1, escalated: 0, cut_short: false, batches: 2 });

    const row = await dbRow(filed.request_id);
    expect(row).toMatchObject({ status: "expired", resolved_at_ms: clock, deadline_ms: null });
    expect(transitions(row.history)).toEqual([
      [null, "pending", agent.principalId, expect.any(String)],
      ["pending", "expired", "escalation_worker", EXPIRED_REASON],
    ]);
    expect(row.history.at(-1)?.timestamp).toBe(new Date(clock).toISOString());
    expect(await outboxEvents(filed.request_id)).toEqual([WEBHOOK_EVENTS.created, WEBHOOK_EVENTS.expired]);
    const [event] = (await testSql()`SELECT payload FROM webhook_outbox
      WHERE request_id = ${filed.request_id} AND event = ${WEBHOOK_EVENTS.expired}`) as {
      payload: Record<string, unknown>;
    }[];
    expect(event?.payload).toMatchObject({
      event: WEBHOOK_EVENTS.expired,
      request_id: filed.request_id,
      status: "expired",
      tenant_id: tenant,
      actor: ESCALATION_ACTOR,
      reason: EXPIRED_REASON,
      occurred_at: new Date(clock).toISOString(),
    });
    expect(metrics.totals()).toEqual({
      "nova_approval_actions_total{result=expired}": 1,
      "nova_escalation_runs_total{outcome=completed}": 1,
    });

    const read = await getRequest(filed.request_id, agent);
    expect(read.status).toBe("expired");
    expect(read.resolved_at).toBe(new Date(clock).toISOString());
    expect(read.status_history).toHaveLength(2);

    // A later run finds nothing more to do with it.
    expect(await runOnce(clock + 60_000)).toMatchObject({ expired: 0, escalated: 0 });
    expect(await outboxEvents(filed.request_id)).toHaveLength(2);
  });

  it("a read of a request past expires_at answers expired at once, with history, before any run", async () => {
    const tenant = newTenant();
    const filed = await fileRequest(tenant, { expires_in_seconds: 30 });
    await testSql()`UPDATE approval_requests SET expires_at = now() - interval '1 second'
      WHERE id = ${filed.request_id}`;
    const read = await getRequest(filed.request_id, agent);
    expect(read.status).toBe("expired");
    expect(read.resolved_at).not.toBeNull();
    expect(transitions(read.status_history).at(-1)).toEqual(["pending", "expired", "system", EXPIRED_REASON]);
    expect(await outboxEvents(filed.request_id)).toEqual([WEBHOOK_EVENTS.created, WEBHOOK_EVENTS.expired]);
    expect((await dbRow(filed.request_id)).deadline_ms).toBeNull();

    // The job does not expire it a second time.
    expect(await runOnce(Date.now() + 1_000)).toMatchObject({ expired: 0, escalated: 0 });
    expect((await getRequest(filed.request_id)).status_history).toHaveLength(2);
    expect(await outboxEvents(filed.request_id)).toHaveLength(2);
  });

  it("escalates to the policy's escalate_to after escalation_timeout_seconds; approvers can still decide", async () => {
    const tenant = newTenant();
    await withPolicy(tenant, { escalate_to: "oncall", escalation_timeout_seconds: 60 });
    const filed = await fileRequest(tenant, { expires_in_seconds: 3600 });
    expect(filed.escalate_to).toBe("oncall");
    const before = await dbRow(filed.request_id);
    expect(before).toMatchObject({ status: "pending", escalation_tier: 0, escalated_at_ms: null });
    expect(before.deadline_ms).toBe(before.created_ms + 60_000);

    // Not before the deadline.
    expect(await runOnce(filed.createdMs + 59_000)).toMatchObject({ expired: 0, escalated: 0 });
    expect((await dbRow(filed.request_id)).status).toBe("pending");

    const clock = filed.createdMs + 61_000;
    const metrics = recordingDataset();
    expect(await runOnce(clock, { METRICS: metrics })).toMatchObject({
      expired: 0,
      escalated: 1,
      cut_short: false,
    });
    const after = await dbRow(filed.request_id);
    expect(after).toMatchObject({
      status: "escalated",
      escalate_to: "oncall",
      escalation_tier: 1,
      deadline_ms: null,
      escalated_at_ms: clock,
      resolved_at_ms: null,
    });
    expect(transitions(after.history).slice(1)).toEqual([
      ["pending", "escalated", "escalation_worker", "no decision in time: escalated to oncall (tier 1 of 1)"],
    ]);
    expect(await outboxEvents(filed.request_id)).toEqual([WEBHOOK_EVENTS.created, WEBHOOK_EVENTS.escalated]);
    const [event] = (await testSql()`SELECT payload FROM webhook_outbox
      WHERE request_id = ${filed.request_id} AND event = ${WEBHOOK_EVENTS.escalated}`) as {
      payload: Record<string, unknown>;
    }[];
    expect(event?.payload).toMatchObject({
      status: "escalated",
      actor: ESCALATION_ACTOR,
      reason: "no decision in time: escalated to oncall (tier 1 of 1)",
    });
    expect(metrics.totals()).toEqual({
      "nova_approval_actions_total{result=escalated}": 1,
      "nova_approval_escalations_total{}": 1,
      "nova_escalation_runs_total{outcome=completed}": 1,
    });

    // The chain has ended: a later run (before expiry) changes nothing.
    expect(await runOnce(filed.createdMs + 600_000)).toMatchObject({ expired: 0, escalated: 0 });
    expect(await dbRow(filed.request_id)).toMatchObject({ status: "escalated", escalation_tier: 1 });
    expect(await outboxEvents(filed.request_id)).toHaveLength(2);

    const approver = await createTestKey("approver", { maxLevel: 3 });
    const res = await postJson(`${REQUESTS}/${filed.request_id}/approve`, {}, approver.headers);
    expect(res.status).toBe(200);
    const approved = (await res.json()) as ApiRequest;
    expect(approved.status).toBe("approved");
    expect(approved.status_history.map((entry) => entry.to_status)).toEqual([
      "pending",
      "escalated",
      "approved",
    ]);
    expect((await dbRow(filed.request_id)).deadline_ms).toBeNull();
  });

  it("walks a chain of tiers, each after its after_seconds since the previous step; expiry still applies", async () => {
    const tenant = newTenant();
    await withPolicy(tenant, {
      escalation_chain: [
        { escalate_to: "team-lead", after_seconds: 60 },
        { escalate_to: "director", after_seconds: 120 },
      ],
    });
    const filed = await fileRequest(tenant, { expires_in_seconds: 3600 });
    expect(filed.escalate_to).toBe("team-lead");
    expect((await dbRow(filed.request_id)).deadline_ms).toBe(filed.createdMs + 60_000);

    const first = filed.createdMs + 61_000;
    expect(await runOnce(first)).toMatchObject({ expired: 0, escalated: 1 });
    expect(await dbRow(filed.request_id)).toMatchObject({
      status: "escalated",
      escalate_to: "team-lead",
      escalation_tier: 1,
      deadline_ms: first + 120_000,
      escalated_at_ms: first,
    });

    // The second tier is due 120 s after the first step, not after creation.
    expect(await runOnce(first + 119_000)).toMatchObject({ expired: 0, escalated: 0 });
    expect((await dbRow(filed.request_id)).escalation_tier).toBe(1);

    const second = first + 121_000;
    expect(await runOnce(second)).toMatchObject({ expired: 0, escalated: 1 });
    const row = await dbRow(filed.request_id);
    expect(row).toMatchObject({
      status: "escalated",
      escalate_to: "director",
      escalation_tier: 2,
      deadline_ms: null,
      escalated_at_ms: second,
    });
    expect(transitions(row.history)).toEqual([
      [null, "pending", agent.principalId, expect.any(String)],
      [
        "pending",
        "escalated",
        "escalation_worker",
        "no decision in time: escalated to team-lead (tier 1 of 2)",
      ],
      [
        "escalated",
        "escalated",
        "escalation_worker",
        "no decision in time: escalated to director (tier 2 of 2)",
      ],
    ]);
    expect(row.history.map((entry) => entry.timestamp).slice(1)).toEqual([
      new Date(first).toISOString(),
      new Date(second).toISOString(),
    ]);
    expect(await outboxEvents(filed.request_id)).toEqual([
      WEBHOOK_EVENTS.created,
      WEBHOOK_EVENTS.escalated,
      WEBHOOK_EVENTS.escalated,
    ]);
    const reasons = (await testSql()`SELECT payload->>'reason' AS reason FROM webhook_outbox
      WHERE request_id = ${filed.request_id} AND event = ${WEBHOOK_EVENTS.escalated} ORDER BY id`) as {
      reason: string;
    }[];
    expect(reasons.map((entry) => entry.reason)).toEqual([
      "no decision in time: escalated to team-lead (tier 1 of 2)",
      "no decision in time: escalated to director (tier 2 of 2)",
    ]);

    // The chain has ended: later runs change nothing until the request expires.
    expect(await runOnce(second + 600_000)).toMatchObject({ expired: 0, escalated: 0 });
    expect((await dbRow(filed.request_id)).history).toHaveLength(3);
    const expiry = filed.createdMs + 3_601_000;
    expect(await runOnce(expiry)).toMatchObject({ expired: 1, escalated: 0 });
    const expired = await dbRow(filed.request_id);
    expect(expired).toMatchObject({ status: "expired", resolved_at_ms: expiry, deadline_ms: null });
    expect(transitions(expired.history).at(-1)).toEqual([
      "escalated",
      "expired",
      "escalation_worker",
      EXPIRED_REASON,
    ]);
    expect(await outboxEvents(filed.request_id)).toEqual([
      WEBHOOK_EVENTS.created,
      WEBHOOK_EVENTS.escalated,
      WEBHOOK_EVENTS.escalated,
      WEBHOOK_EVENTS.expired,
    ]);
  });

  it("two overlapping cron runs change each overdue request exactly once", async () => {
    const tenant = newTenant();
    const ids: string[] = [];
    for (let group = 0; group < 6; group++) {
      const filed = await Promise.all(Array.from({ length: 10 }, () => fileRequest(tenant)));
      ids.push(...filed.map((request) => request.request_id));
    }
    const toExpire = ids.filter((_, index) => index % 2 === 0);
    const toEscalate = ids.filter((_, index) => index % 2 === 1);
    const sql = testSql();
    await sql`UPDATE approval_requests SET expires_at = now() - interval '1 minute' WHERE id = ANY(${toExpire})`;
    await sql`UPDATE approval_requests SET escalation_deadline = now() - interval '1 minute'
      WHERE id = ANY(${toEscalate})`;

    const clock = Date.now() + 1_000;
    const runs = await runCron([clock, clock]);
    expect(runs).toHaveLength(2);
    expect(new Set(runs.map((run) => run.run_id)).size).toBe(2);
    expect(runs.map((run) => run.cut_short)).toEqual([false, false]);
    expect(runs.reduce((sum, run) => sum + run.expired, 0)).toBe(30);
    expect(runs.reduce((sum, run) => sum + run.escalated, 0)).toBe(30);

    const rows = (await sql`SELECT id, status, status_history_json AS history FROM approval_requests
      WHERE tenant_id = ${tenant}`) as { id: string; status: string; history: HistoryEntry[] }[];
    expect(rows).toHaveLength(60);
    const events = (await sql`SELECT request_id, event FROM webhook_outbox
      WHERE request_id = ANY(${ids}) ORDER BY id`) as { request_id: string; event: string }[];
    for (const row of rows) {
      const expiring = toExpire.includes(row.id);
      expect(row.status).toBe(expiring ? "expired" : "escalated");
      expect(transitions(row.history).slice(1)).toEqual([
        expiring
          ? ["pending", "expired", "escalation_worker", EXPIRED_REASON]
          : [
              "pending",
              "escalated",
              "escalation_worker",
              `no decision in time: escalated to ${NO_ONE} (tier 1 of 1)`,
            ],
      ]);
      expect(events.filter((event) => event.request_id === row.id).map((event) => event.event)).toEqual([
        WEBHOOK_EVENTS.created,
        expiring ? WEBHOOK_EVENTS.expired : WEBHOOK_EVENTS.escalated,
      ]);
    }
  });

  it("a run takes at most batchSize rows per statement, expiry first, until a batch comes back short", async () => {
    const tenant = newTenant();
    await seedOverdue(tenant, 60);
    const run = await runEscalation(serviceContext(), {
      now: new Date(Date.now() + 1_000),
      trigger: "manual",
      batchSize: 4,
    });
    // 30 expiries in 7 full batches and one of 2, then 30 escalations the same way.
    expect(run).toMatchObject({ expired: 30, escalated: 30, batches: 16, cut_short: false, paused: false });
    expect(await outcomeByStatus(tenant)).toEqual(seededOutcome(60));
  });

  it("three overlapping runs in small batches still take each request exactly once", async () => {
    const tenant = newTenant();
    await seedOverdue(tenant, 60);
    const now = new Date(Date.now() + 1_000);
    const runs = await Promise.all(
      [1, 2, 3].map(() => runEscalation(serviceContext(), { now, trigger: "manual", batchSize: 4 })),
    );
    expect(runs.reduce((sum, run) => sum + run.expired, 0)).toBe(30);
    expect(runs.reduce((sum, run) => sum + run.escalated, 0)).toBe(30);
    for (const run of runs) {
      expect(run.cut_short).toBe(false);
      expect(processed(run)).toBeLessThanOrEqual(run.batches * 4);
    }
    expect(await outcomeByStatus(tenant)).toEqual(seededOutcome(60));
  });

  it("works off a backlog of 3,000 overdue requests in bounded batches over consecutive runs", async () => {
    const tenant = newTenant();
    const total = 3_000;
    await seedOverdue(tenant, total);
    const overdue = async (at: Date) => {
      const [row] = (await testSql()`SELECT count(*)::int AS n FROM approval_requests
        WHERE tenant_id = ${tenant} AND status IN ('pending', 'escalated')
          AND (expires_at <= ${at.toISOString()}::timestamptz OR escalation_deadline <= ${at.toISOString()}::timestamptz)`) as {
        n: number;
      }[];
      return row?.n;
    };

    // Every row seeded is overdue at any clock in the next hour; each run below uses a fresh one.
    const clock = () => new Date(Date.now() + 1_000);
    let left = total;
    /** Checks that a run changed exactly as many requests as it reported, and no more per batch. */
    const account = async (run: EscalationRunSummary, batchSize: number) => {
      expect(processed(run)).toBeLessThanOrEqual(run.batches * batchSize);
      const now = await overdue(clock());
      expect(now).toBe(left - processed(run));
      left = now ?? 0;
      // A run that was not cut short left nothing overdue.
      if (!run.cut_short) expect(left).toBe(0);
    };
    const runs: EscalationRunSummary[] = [];

    // A budget spent before the first batch: the run says it stopped early, and changes nothing more.
    const buffer = new MetricsBuffer();
    const spent = await runEscalation(serviceContext(buffer), {
      now: clock(),
      trigger: "cli",
      batchSize: 100,
      budgetMs: 1,
    });
    expect(spent).toMatchObject({ cut_short: true, escalated: 0, paused: false });
    await account(spent, 100);
    runs.push(spent);
    const metrics = recordingDataset();
    buffer.flush(metrics);
    expect(metrics.totals()).toMatchObject({ "nova_escalation_runs_total{outcome=cut_short}": 1 });

    // Short budgets: consecutive runs each take some batches, stop, and the next continues.
    let cutShort = 0;
    for (let attempt = 0; attempt < 12 && left > 0; attempt++) {
      const run = await runEscalation(serviceContext(), {
        now: clock(),
        trigger: "cli",
        batchSize: 100,
        budgetMs: 25,
      });
      await account(run, 100);
      runs.push(run);
      if (run.cut_short) cutShort++;
    }
    expect(cutShort).toBeGreaterThan(0);

    // The cron takes the rest with its default budget and batches, until a run finds nothing.
    const cronRuns: RunLine[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      const run = await runOnce(Date.now() + 1_000);
      await account(run, 500);
      cronRuns.push(run);
      if (run.expired === 0 && run.escalated === 0) break;
    }
    expect(cronRuns.at(-1)).toMatchObject({ expired: 0, escalated: 0, cut_short: false });
    runs.push(...cronRuns);

    expect(runs.reduce((sum, run) => sum + run.expired, 0)).toBe(total / 2);
    expect(runs.reduce((sum, run) => sum + run.escalated, 0)).toBe(total / 2);
    expect(await outcomeByStatus(tenant)).toEqual(seededOutcome(total));
  });

  it("a paused job does nothing (logged, counted, audited) until resumed; the last run is kept", async () => {
    const ctx = serviceContext();
    const sql = testSql();
    // A run with nothing to do is the last run, and records its summary.
    const idle = await runOnce(Date.now() + 1_000);
    expect(idle).toMatchObject({ paused: false, expired: 0, escalated: 0, batches: 2, cut_short: false });
    const afterIdle = await lastRun();
    expect(afterIdle.last_run).toEqual({ ...summaryOf(idle), duration_ms: expect.any(Number) });
    expect(afterIdle.last_run_at_ms).not.toBeNull();

    const tenant = newTenant();
    await seedOverdue(tenant, 2);
    const reasonOn = "incident 42: approvers offline";
    expect(await setEscalationPaused(ctx, OPS, true, reasonOn)).toMatchObject({
      paused: true,
      reason: reasonOn,
      changed_by: "ops",
    });
    expect(await escalationStatus(ctx)).toMatchObject({ paused: true, reason: reasonOn, changed_by: "ops" });

    const metrics = recordingDataset();
    const skipped = await runOnce(Date.now() + 1_000, { METRICS: metrics });
    expect(skipped).toMatchObject({ paused: true, expired: 0, escalated: 0, batches: 0, cut_short: false });
    expect(metrics.totals()).toEqual({ "nova_escalation_runs_total{outcome=paused}": 1 });
    expect(await outcomeByStatus(tenant)).toEqual([
      {
        status: "pending",
        history: 1,
        events: 0,
        event: null,
        tier: 0,
        escalate_to: "backlog-oncall",
        deadline_cleared: false,
        requests: 2,
      },
    ]);
    // A paused run is not recorded as the last run.
    expect(await lastRun()).toEqual(afterIdle);

    const reasonOff = "incident 42 over";
    expect(await setEscalationPaused(ctx, OPS, false, reasonOff)).toMatchObject({
      paused: false,
      reason: reasonOff,
      changed_by: "ops",
    });
    const resumed = await runOnce(Date.now() + 1_000);
    expect(resumed).toMatchObject({ paused: false, expired: 1, escalated: 1, cut_short: false });
    expect(await outcomeByStatus(tenant)).toEqual(seededOutcome(2));

    // job_controls.last_run holds the summary of the last run (its duration taken just before writing).
    const recorded = await lastRun();
    expect(recorded.last_run).toEqual({ ...summaryOf(resumed), duration_ms: expect.any(Number) });
    expect(recorded.last_run?.duration_ms).toBeLessThanOrEqual(resumed.duration_ms);
    expect(recorded.last_run_at_ms).toBeGreaterThanOrEqual(afterIdle.last_run_at_ms ?? 0);
    expect((await escalationStatus(ctx)).last_run).toEqual(recorded.last_run);

    const audit =
      await sql`SELECT actor, actor_key_id, action, target_type, target_id, before, after, request_id
      FROM audit_events WHERE target_type = 'job' AND target_id = 'escalation' ORDER BY id`;
    const entry = (action: string, after: Record<string, unknown>) => ({
      actor: "ops",
      actor_key_id: "test",
      action,
      target_type: "job",
      target_id: "escalation",
      before: null,
      after,
      request_id: "run_escalation_test",
    });
    expect(audit).toEqual([
      entry("escalation.pause", { paused: true, reason: reasonOn }),
      entry("escalation.resume", { paused: false, reason: reasonOff }),
    ]);
  });
});
