// GET /metrics: who may scrape, the gauges Postgres gives after a workload, the counters Analytics
// Engine gives (through a local stand-in for its SQL API), and output an independent parser reads.
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { APPROVAL_STATUSES } from "../src/domain/vocabulary.ts";
import { testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";
import { TEST_METRICS_TOKEN } from "./setup/test-secrets.ts";

const METRICS_TOKEN = TEST_METRICS_TOKEN;
let admin: TestKey;
let agent: TestKey;
let approver: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  agent = await createTestKey("agent");
  approver = await createTestKey("approver", { maxLevel: 5 });
});

async function scrapeText(headers: Record<string, string>, env: Record<string, string> = {}) {
  const res = await call("/metrics", { headers }, { METRICS_TOKEN, ...env });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

function parsed(text: string) {
  const families = parsePrometheusTextFormat(text);
  const value = (name: string, labels: Record<string, string> = {}) => {
    const family = families.find((candidate) => candidate.name === name);
    const sample = family?.metrics.find((metric) =>
      Object.entries(labels).every(([key, wanted]) => metric.labels?.[key] === wanted),
    );
    return sample === undefined ? undefined : Number(sample.value);
  };
  return { families, value, names: families.map((family) => family.name) };
}

async function file(tenant: string, expiresIn = 300) {
  const res = await postJson(
    "/api/v1/policy/requests",
    {
      policy_type: "cost",
      skill_id: "a.b",
      tenant_id: tenant,
      requested_by: agent.principalId,
      expires_in_seconds: expiresIn,
    },
    agent.headers,
  );
  return ((await res.json()) as { request_id: string }).request_id;
}

describe("traffic counters", () => {
  it("count each request by route pattern and status, and the time it took", async () => {
    const dataset = recordingDataset();
    const res = await call("/api/v1/admin/stats", { headers: admin.headers }, { METRICS: dataset });
    expect(res.status).toBe(200);
    const totals = dataset.totals({ traffic: true });
    expect(totals["nova_http_requests_total{route=/api/v1/admin/stats,status=200}"]).toBe(1);
    expect(totals["nova_http_request_duration_seconds_total{route=/api/v1/admin/stats}"]).toBeGreaterThan(0);
    expect(dataset.totals()).not.toHaveProperty(
      "nova_http_requests_total{route=/api/v1/admin/stats,status=200}",
    );
  });
});

describe("GET /metrics", () => {
  it("needs the scrape token or an admin key", async () => {
    expect((await scrapeText({})).status).toBe(401);
    expect(
      (await scrapeText({ Authorization: "Bearer not-the-token-but-long-enough-to-look-real" })).status,
    ).toBe(401);
    expect((await scrapeText(agent.headers)).status).toBe(403);
    expect((await scrapeText(approver.headers)).status).toBe(403);
    expect((await scrapeText(admin.headers)).status).toBe(200);
    const byToken = await scrapeText({ Authorization: `Bearer ${METRICS_TOKEN}` });
    expect(byToken.status).toBe(200);
    expect(byToken.type).toBe("text/plain; version=0.0.4; charset=utf-8");
    // The token opens /metrics and nothing else.
    expect(
      (
        await call(
          "/api/v1/admin/keys",
          { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } },
          { METRICS_TOKEN },
        )
      ).status,
    ).toBe(401);
  });

  it("serves the gauges after a workload, parseable by an independent parser", async () => {
    const tenant = `m-${crypto.randomUUID().slice(0, 8)}`;
    const before = parsed((await scrapeText(admin.headers)).text);
    const pendingBefore = before.value("nova_approval_requests_pending") ?? 0;
    const approvedBefore = before.value("nova_approval_requests", { status: "approved" }) ?? 0;

    const [first, second, third] = [await file(tenant), await file(tenant), await file(tenant)];
    await postJson(`/api/v1/policy/requests/${first}/approve`, {}, approver.headers);
    await testSql().query(
      "UPDATE approval_requests SET created_at = now() - interval '2 hours' WHERE id = $1",
      [second],
    );
    await postJson("/api/v1/admin/escalation/pause", { reason: "metrics test" }, admin.headers);

    const after = parsed((await scrapeText({ Authorization: `Bearer ${METRICS_TOKEN}` })).text);
    expect(after.value("nova_approval_requests_pending")).toBe(pendingBefore + 2);
    expect(after.value("nova_approval_requests", { status: "approved" })).toBe(approvedBefore + 1);
    expect(after.value("nova_approval_oldest_pending_age_seconds")).toBeGreaterThanOrEqual(7200);
    expect(after.value("nova_escalation_paused")).toBe(1);
    expect(after.value("nova_webhook_delivery_paused")).toBe(0);
    expect(after.value("nova_database_latency_seconds")).toBeGreaterThan(0);
    expect(after.value("pg_stat_activity", { state: "active" })).toBeGreaterThanOrEqual(1);
    expect(after.value("nova_webhook_deliveries", { status: "dead" })).toBe(0);
    for (const status of APPROVAL_STATUSES) {
      expect(after.value("nova_approval_requests", { status }), status).toBeDefined();
    }
    const types = Object.fromEntries(after.families.map((family) => [family.name, family.type]));
    expect(types.nova_approval_requests_pending).toBe("GAUGE");
    expect(third).toMatch(/^apr_/);
    await postJson("/api/v1/admin/escalation/resume", { reason: "metrics test done" }, admin.headers);
  });

  it("says in a comment that counters need Analytics Engine access, and still serves the gauges", async () => {
    const { text } = await scrapeText(admin.headers);
    expect(text).toMatch(/^# Counters \(nova_\*_total\) are not served: set CF_ACCOUNT_ID/m);
    const metrics = parsed(text);
    expect(metrics.value("nova_metrics_counters_available")).toBe(0);
    expect(metrics.names).not.toContain("nova_policy_decisions_total");
  });

  it("serves the Analytics Engine counters as Prometheus counters when configured", async () => {
    const receiver = inject("webhookReceiverUrl");
    await fetch(`${receiver}/_ae-data`, {
      method: "POST",
      body: JSON.stringify([
        { metric: "nova_policy_decisions_total", labels: "decision=deny,policy_type=capability", value: 12 },
        { metric: "nova_policy_decisions_total", labels: "decision=allow,policy_type=cost", value: 88 },
        { metric: "nova_webhook_failures_total", labels: "reason=dead", value: "3" },
        { metric: "nova_capability_violations_total", labels: "", value: 12 },
        { metric: "something_else", labels: "", value: 1 },
      ]),
    });
    const env = {
      CF_ACCOUNT_ID: "acct123",
      CF_ANALYTICS_API_TOKEN: "test-analytics-token",
      ANALYTICS_ENGINE_SQL_URL: `${receiver}/client/v4`,
    };
    const { text } = await scrapeText(admin.headers, env);
    const metrics = parsed(text);
    expect(metrics.value("nova_metrics_counters_available")).toBe(1);
    expect(
      metrics.value("nova_policy_decisions_total", { decision: "deny", policy_type: "capability" }),
    ).toBe(12);
    expect(metrics.value("nova_policy_decisions_total", { decision: "allow", policy_type: "cost" })).toBe(88);
    expect(metrics.value("nova_webhook_failures_total", { reason: "dead" })).toBe(3);
    expect(metrics.value("nova_capability_violations_total")).toBe(12);
    expect(metrics.names).not.toContain("something_else");
    // Known label sets are served at 0 before their first event, so "any increase" alerts see it.
    expect(metrics.value("nova_policy_decisions_total", { decision: "deny", policy_type: "cost" })).toBe(0);
    expect(metrics.value("nova_escalation_runs_total", { outcome: "failed" })).toBe(0);
    expect(metrics.value("nova_decision_log_failures_total")).toBe(0);
    // Exactly the names the alert rules and dashboard rely on (test/node/alerts.test.ts holds them too).
    expect([...new Set(metrics.names)].sort()).toEqual(
      [
        "nova_approval_requests_pending",
        "nova_approval_requests",
        "nova_approval_oldest_pending_age_seconds",
        "nova_webhook_deliveries",
        "nova_escalation_paused",
        "nova_webhook_delivery_paused",
        "nova_database_latency_seconds",
        "pg_stat_activity",
        "nova_metrics_counters_available",
        "nova_policy_decisions_total",
        "nova_capability_violations_total",
        "nova_resource_budget_rejections_total",
        "nova_webhook_failures_total",
        "nova_webhook_attempts_total",
        "nova_notification_failures_total",
        "nova_approval_escalations_total",
        "nova_escalation_runs_total",
        "nova_decision_log_failures_total",
        "nova_rate_limited_total",
      ].sort(),
    );
    expect(metrics.families.find((family) => family.name === "nova_policy_decisions_total")?.type).toBe(
      "COUNTER",
    );
    const last = (await (await fetch(`${receiver}/_ae-last`)).json()) as { path: string; sql: string };
    expect(last.path).toBe("/client/v4/accounts/acct123/analytics_engine/sql");
    expect(last.sql).toMatch(
      /FROM policy_api_metrics WHERE timestamp >= toDateTime\('\d{4}-\d\d-01 00:00:00'\) GROUP BY metric, labels/,
    );

    // A refused token: counters unavailable, said in a comment, gauges still served.
    const refused = await scrapeText(admin.headers, { ...env, CF_ANALYTICS_API_TOKEN: "wrong" });
    expect(refused.status).toBe(200);
    expect(refused.text).toMatch(/^# Counters \(nova_\*_total\) are unavailable/m);
    expect(parsed(refused.text).value("nova_approval_requests_pending")).toBeGreaterThanOrEqual(0);
  });
});

describe("a scripted workload, end to end", () => {
  it("shows in the scrape: the worker's data points read back through the SQL API, and the gauges", async () => {
    const receiver = inject("webhookReceiverUrl");
    const dataset = `workload_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const aeEnv = {
      CF_ACCOUNT_ID: "acct123",
      CF_ANALYTICS_API_TOKEN: "test-analytics-token",
      ANALYTICS_ENGINE_SQL_URL: `${receiver}/client/v4`,
      METRICS_DATASET: dataset,
    };
    const points = recordingDataset();
    const env = { METRICS: points };
    const send = async (method: string, path: string, key: TestKey | null, body?: unknown) => {
      const headers: Record<string, string> = { ...(key?.headers ?? {}) };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const res = await call(
        path,
        { method, headers, body: body === undefined ? undefined : JSON.stringify(body) },
        env,
      );
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const tenant = `w-${crypto.randomUUID().slice(0, 8)}`;
    const before = parsed((await scrapeText(admin.headers)).text);
    const gauge = (scrape: ReturnType<typeof parsed>, name: string, labels: Record<string, string> = {}) =>
      scrape.value(name, labels) ?? 0;

    // Policy: shell.* denied for the tenant, and a zero daily budget.
    for (const [path, body] of [
      ["capability-rules", { tenant_id: tenant, skill_pattern: "shell.*", effect: "deny" }],
      ["budgets", { tenant_id: tenant, period: "day", limit_cents: 0 }],
    ] as const)
      expect((await postJson(`/api/v1/admin/policies/${path}`, body, admin.headers)).status).toBe(201);

    // Agents ask: one capability denial (over budget too), one budget denial, one needing approval.
    const evaluate = (body: Record<string, unknown>) =>
      send("POST", "/api/v1/policy/eval", agent, { tenant_id: tenant, payload: {}, ...body });
    expect((await evaluate({ skill_id: "shell.exec" })).body.decision).toBe("deny");
    expect((await evaluate({ skill_id: "search.web" })).body.decision).toBe("deny");
    expect((await evaluate({ skill_id: "search.web", simulate_cost: false })).body.decision).toBe(
      "requires_approval",
    );

    // Four requests (in a tenant without the zero budget): one approved, one rejected, one expired by
    // the escalation run, one left waiting with a webhook, so one delivery waits too (the queue in
    // tests sends nothing).
    const filed: string[] = [];
    for (const extra of [{}, {}, {}, { webhook_url: "https://hooks.example.com/policy" }]) {
      const res = await send("POST", "/api/v1/policy/requests", agent, {
        policy_type: "cost",
        skill_id: "search.web",
        tenant_id: `${tenant}-requests`,
        requested_by: agent.principalId,
        ...extra,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      filed.push(String(res.body.request_id));
    }
    const [approved, rejected, expired] = filed;
    expect((await send("POST", `/api/v1/policy/requests/${approved}/approve`, approver, {})).status).toBe(
      200,
    );
    expect(
      (await send("POST", `/api/v1/policy/requests/${rejected}/reject`, approver, { notes: "no" })).status,
    ).toBe(200);
    await testSql().query(
      "UPDATE approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1",
      [expired],
    );
    expect((await send("POST", "/api/v1/admin/escalation/run", admin)).body.expired).toBeGreaterThanOrEqual(
      1,
    );
    // Someone without a key.
    expect((await send("GET", "/api/v1/policy/requests", null)).status).toBe(401);

    await points.publish(receiver, dataset);
    const scrape = await scrapeText({ Authorization: `Bearer ${METRICS_TOKEN}` }, aeEnv);
    expect(scrape.text).toMatch(/^# Counters \(nova_\*_total\) count from \d{4}-\d\d-01T00:00:00\.000Z/m);
    const after = parsed(scrape.text);
    expect(after.value("nova_metrics_counters_available")).toBe(1);

    // Counters: exactly what the workload did.
    const counters: [string, Record<string, string>, number][] = [
      ["nova_policy_decisions_total", { decision: "deny", policy_type: "capability" }, 1],
      ["nova_policy_decisions_total", { decision: "deny", policy_type: "resource" }, 1],
      ["nova_policy_decisions_total", { decision: "requires_approval", policy_type: "cost" }, 1],
      ["nova_capability_violations_total", {}, 1],
      ["nova_resource_budget_rejections_total", {}, 2],
      ["nova_approval_requests_total", { status: "pending" }, 4],
      ["nova_approval_actions_total", { result: "approved" }, 1],
      ["nova_approval_actions_total", { result: "rejected" }, 1],
      ["nova_approval_actions_total", { result: "expired" }, 1],
      ["nova_escalation_runs_total", { outcome: "completed" }, 1],
      ["nova_auth_failures_total", { reason: "missing" }, 1],
      ["nova_http_requests_total", { route: "/api/v1/policy/eval", status: "200" }, 3],
      ["nova_http_requests_total", { route: "/api/v1/policy/requests", status: "200" }, 4],
      ["nova_decision_log_failures_total", {}, 0],
      ["nova_webhook_failures_total", { reason: "dead" }, 0],
    ];
    for (const [name, labels, expected] of counters)
      expect(after.value(name, labels), `${name}${JSON.stringify(labels)}`).toBe(expected);
    expect(
      after.value("nova_http_request_duration_seconds_total", { route: "/api/v1/policy/eval" }),
    ).toBeGreaterThan(0);

    // Gauges: the change the workload made to the database.
    const delta = (name: string, labels: Record<string, string> = {}) =>
      gauge(after, name, labels) - gauge(before, name, labels);
    expect(delta("nova_approval_requests_pending")).toBe(1);
    for (const status of ["approved", "rejected", "expired", "pending"])
      expect(delta("nova_approval_requests", { status }), status).toBe(1);
    expect(delta("nova_webhook_deliveries", { status: "pending" })).toBe(1);
    expect(gauge(after, "nova_escalation_paused")).toBe(0);
  });
});
