// /mcp through the official MCP client: the tools an agent uses to ask before acting (evaluate, file,
// wait, read, cancel), each decision an approver makes through the REST API as the agent sees it, and
// what an attacker holding one key can and cannot do with it.
import { env } from "cloudflare:test";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "../src/lib/log.ts";
import { MetricsBuffer } from "../src/lib/metrics.ts";
import { DEFAULT_WAIT_SECONDS } from "../src/mcp/tools.ts";
import { MAX_WAIT_SECONDS } from "../src/services/approval-requests.ts";
import { createServiceContext } from "../src/services/context.ts";
import { runEscalation } from "../src/services/escalation.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { callTool, connectMcp } from "./helpers/mcp.ts";
import { recordingDataset } from "./helpers/metrics.ts";

const TENANT = "acme";
let agentKey: TestKey;
let approverKey: TestKey;
let admin: TestKey;
let agent: Client;
const clients: Client[] = [];

async function connect(key: TestKey | null): Promise<Client> {
  const client = await connectMcp(key?.token ?? null);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  agentKey = await createTestKey("agent", { principalId: "bot-1", tenantId: TENANT, agentIds: null });
  approverKey = await createTestKey("approver", { principalId: "carol", tenantId: TENANT, maxLevel: 4 });
  admin = await createTestKey("admin");
  agent = await connect(agentKey);
});

afterAll(async () => {
  for (const client of clients) await client.close();
});

/** A filing the default policy leaves pending (agent_approve, level 3). */
function filing(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    policy_type: "cost",
    skill_id: "email.send",
    tenant_id: TENANT,
    payload: { to: "ops@example.com", max_tokens: 200 },
    requested_by: "bot-1",
    justification: "weekly report",
    idempotency_key: `idem-${crypto.randomUUID()}`,
    ...overrides,
  };
}

async function file(overrides: Record<string, unknown> = {}, client = agent) {
  const filed = await callTool(client, "request_approval", filing(overrides));
  expect(filed.isError, filed.text).toBe(false);
  return filed.structured as { request_id: string; status: string; expires_at: string; replayed: boolean };
}

function decide(id: string, action: "approve" | "reject", body: Record<string, unknown> = {}) {
  return postJson(`/api/v1/policy/requests/${id}/${action}`, body, approverKey.headers);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("MCP: tools", () => {
  it("lists the five tools, each with an object input schema and a description", async () => {
    const { tools } = await agent.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(
      ["cancel_request", "evaluate_action", "get_request", "request_approval", "wait_for_decision"].sort(),
    );
    for (const tool of tools) {
      expect(tool.inputSchema.type, tool.name).toBe("object");
      expect(tool.description?.length, tool.name).toBeGreaterThan(80);
      // Every field tells the model what to send.
      for (const [field, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
        expect((schema as { description?: string }).description, `${tool.name}.${field}`).toEqual(
          expect.any(String),
        );
      }
    }
    const request = tools.find((tool) => tool.name === "request_approval");
    expect(request?.inputSchema.required).toEqual(
      expect.arrayContaining(["skill_id", "tenant_id", "requested_by", "idempotency_key"]),
    );
    expect(agent.getInstructions()).toMatch(/undecided request is NOT approved/);
  });

  it("evaluate_action answers the decision, reasons, violations and the level required", async () => {
    const answer = await callTool(agent, "evaluate_action", {
      skill_id: "email.send",
      tenant_id: TENANT,
      payload: { to: "ops@example.com", max_tokens: 200 },
    });
    expect(answer.isError).toBe(false);
    expect(answer.structured).toMatchObject({
      decision: "requires_approval",
      approval_level_required: 3,
      approval_level_name: "agent_approve",
      policy_type: "cost",
    });
    expect(Array.isArray(answer.structured.reasons)).toBe(true);
    expect(Array.isArray(answer.structured.violations)).toBe(true);
    expect(answer.text).toMatch(/^REQUIRES APPROVAL \(level 3 agent_approve\)/);
    // Same answer as the REST route, field for field (ids and times aside).
    const rest = await postJson(
      "/api/v1/policy/eval",
      { skill_id: "email.send", tenant_id: TENANT, payload: { to: "ops@example.com", max_tokens: 200 } },
      agentKey.headers,
    );
    const restBody = (await rest.json()) as Record<string, unknown>;
    const { decision_id: _a, timestamp: _b, ...mcpRest } = answer.structured;
    const { decision_id: _c, timestamp: _d, ...restRest } = restBody;
    expect(mcpRest).toEqual(restRest);
  });

  it("deny: evaluate says why, and request_approval files nothing (policy_denied with the reasons)", async () => {
    const tenant = `deny-${crypto.randomUUID().slice(0, 8)}`;
    const rule = await postJson(
      "/api/v1/admin/policies/capability-rules",
      { tenant_id: tenant, skill_pattern: "shell.*", effect: "deny", description: "no shell" },
      admin.headers,
    );
    expect(rule.status, await rule.clone().text()).toBe(201);
    const platform = await connect(await createTestKey("agent", { tenantId: tenant, agentIds: ["*"] }));
    const evaluated = await callTool(platform, "evaluate_action", {
      skill_id: "shell.exec",
      tenant_id: tenant,
    });
    expect(evaluated.structured.decision).toBe("deny");
    expect(evaluated.text).toMatch(/^DENY: do not perform the action\. Reasons: /);
    const refused = await callTool(platform, "request_approval", {
      ...filing(),
      tenant_id: tenant,
      skill_id: "shell.exec",
      requested_by: "bot-9",
    });
    expect(refused).toMatchObject({ isError: true, code: "policy_denied" });
    expect(refused.text).toMatch(/^policy_denied: Policy denies this action/);
    expect(refused.structured).toMatchObject({ error: { details: { decision: "deny" } } });
    const [row] =
      await testSql()`SELECT count(*)::int AS n FROM approval_requests WHERE tenant_id = ${tenant}`;
    expect(row?.n).toBe(0);
  });
});

describe("MCP: from filing to the decision", () => {
  it("approved through the REST API: wait_for_decision says approved, may proceed", async () => {
    const filed = await file();
    expect(filed.status).toBe("pending");
    expect(filed.request_id).toMatch(/^apr_[0-9a-f]{16}$/);
    expect(filed.expires_at).toMatch(/^\d{4}-/);

    const undecided = await callTool(agent, "wait_for_decision", {
      request_id: filed.request_id,
      wait_seconds: 0,
    });
    expect(undecided.structured).toMatchObject({ status: "pending", decided: false, may_proceed: false });
    expect(undecided.text).toMatch(/^UNDECIDED: .*Undecided is NOT approved: do not perform the action/);

    // The approver decides while the agent waits.
    const waiting = callTool(agent, "wait_for_decision", { request_id: filed.request_id, wait_seconds: 20 });
    await sleep(300);
    const approved = await decide(filed.request_id, "approve", { notes: "fine, send it" });
    expect(approved.status, await approved.clone().text()).toBe(200);
    const answer = await waiting;
    expect(answer.isError).toBe(false);
    expect(answer.structured).toMatchObject({
      request_id: filed.request_id,
      status: "approved",
      decided: true,
      may_proceed: true,
      approver_notes: [{ approver_id: "carol", action: "approve", notes: "fine, send it" }],
      request: { request_id: filed.request_id, status: "approved", skill_id: "email.send" },
    });
    expect(answer.structured.waited_seconds).toBeLessThan(15);
    expect(answer.text).toMatch(/^APPROVED: .*You may now perform the action/);
    expect(answer.text).toContain(
      '\n- approve by "carol" (level 4, counted toward the decision: approval 1 of 1): "fine, send it"',
    );
  });

  it("rejected: the reason and the approver's notes reach the agent, and it must not proceed", async () => {
    const filed = await file();
    const rejected = await decide(filed.request_id, "reject", { notes: "not this week: the list is stale" });
    expect(rejected.status).toBe(200);
    const answer = await callTool(agent, "wait_for_decision", {
      request_id: filed.request_id,
      wait_seconds: 5,
    });
    expect(answer.structured).toMatchObject({
      status: "rejected",
      decided: true,
      may_proceed: false,
      decided_by: "carol",
      approver_notes: [
        {
          approver_id: "carol",
          level: 4,
          action: "reject",
          notes: "not this week: the list is stale",
          counted: true,
        },
      ],
    });
    expect(answer.text).toMatch(/^REJECTED: request apr_\w+ was rejected\. Do not perform the action\.\n/);
    // The approver's note follows as quoted data, labelled with who wrote it and whether it counted.
    expect(answer.text).toContain(
      '\n- reject by "carol" (level 4, counted toward the decision): "not this week: the list is stale"',
    );
  });

  it("expired by the cron: wait_for_decision says expired with the reason, not approved", async () => {
    const filed = await file({ expires_in_seconds: 30 });
    await testSql()`UPDATE approval_requests SET expires_at = now() - interval '1 second' WHERE id = ${filed.request_id}`;
    const ctx = createServiceContext({
      env: testEnv(),
      log: createLogger("error"),
      metrics: new MetricsBuffer(),
      waitUntil: () => {},
      requestId: "mcp_test_cron",
    });
    await runEscalation(ctx, { now: new Date(), trigger: "manual" });
    const answer = await callTool(agent, "wait_for_decision", {
      request_id: filed.request_id,
      wait_seconds: 5,
    });
    expect(answer.structured).toMatchObject({ status: "expired", decided: true, may_proceed: false });
    expect(answer.structured.reason).toEqual(expect.any(String));
    expect(answer.text).toMatch(/^EXPIRED: .*Do not perform the action/);
  });

  it("expiring during the wait: the wait ends at the deadline with expired", async () => {
    const filed = await file({ expires_in_seconds: 30 });
    await testSql()`UPDATE approval_requests SET expires_at = now() + interval '1.5 seconds' WHERE id = ${filed.request_id}`;
    const started = Date.now();
    const answer = await callTool(agent, "wait_for_decision", {
      request_id: filed.request_id,
      wait_seconds: 20,
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(answer.structured).toMatchObject({ status: "expired", may_proceed: false });
  });

  it("a retried request_approval with one key files once (one row), answering the first request", async () => {
    const idempotencyKey = `idem-${crypto.randomUUID()}`;
    const first = await file({ idempotency_key: idempotencyKey });
    const retry = await file({ idempotency_key: idempotencyKey });
    expect(first.replayed).toBe(false);
    expect(retry.replayed).toBe(true);
    expect(retry.request_id).toBe(first.request_id);
    const rows = await testSql()`SELECT id FROM approval_requests WHERE idempotency_key = ${idempotencyKey}`;
    expect(rows).toEqual([{ id: first.request_id }]);
    // The same key over REST (same API key, same body) is the same request: one machinery.
    const { idempotency_key: _key, ...body } = filing();
    const rest = await postJson(
      "/api/v1/policy/requests",
      { ...body, justification: "weekly report" },
      {
        ...agentKey.headers,
        "Idempotency-Key": idempotencyKey,
      },
    );
    expect(rest.status).toBe(200);
    expect(rest.headers.get("Idempotent-Replayed")).toBe("true");
    // Another body under the same key is a conflict, never a second filing.
    const changed = await callTool(agent, "request_approval", {
      ...filing({ idempotency_key: idempotencyKey }),
      payload: { to: "everyone@example.com" },
    });
    expect(changed).toMatchObject({ isError: true, code: "conflict" });
  });

  it("get_request reads without waiting; cancel_request withdraws, and then nothing may proceed", async () => {
    const filed = await file();
    const read = await callTool(agent, "get_request", { request_id: filed.request_id });
    expect(read.structured).toMatchObject({ status: "pending", may_proceed: false });
    expect((read.structured.request as { status_history: unknown[] }).status_history).toHaveLength(1);

    const cancelled = await callTool(agent, "cancel_request", {
      request_id: filed.request_id,
      reason: "user changed their mind",
    });
    expect(cancelled.structured).toMatchObject({
      status: "cancelled",
      may_proceed: false,
      reason: "user changed their mind",
    });
    expect(cancelled.text).toMatch(/^CANCELLED: /);
    const again = await callTool(agent, "cancel_request", { request_id: filed.request_id });
    expect(again).toMatchObject({ isError: true, code: "conflict" });
  });

  it("reads a request as the resource policy-request://{request_id}", async () => {
    const filed = await file();
    const { resourceTemplates } = await agent.listResourceTemplates();
    expect(resourceTemplates.map((template) => template.uriTemplate)).toEqual([
      "policy-request://{request_id}",
    ]);
    const resource = await agent.readResource({ uri: `policy-request://${filed.request_id}` });
    const content = resource.contents[0] as { text: string; mimeType: string };
    expect(content.mimeType).toBe("application/json");
    expect(JSON.parse(content.text)).toMatchObject({ request_id: filed.request_id, status: "pending" });
  });
});

describe("MCP: bad input", () => {
  it("answers bad tool arguments with the tool error validation_failed naming the field, never a crash", async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["evaluate_action", { tenant_id: TENANT }, "skill_id"],
      ["evaluate_action", { skill_id: "a b", tenant_id: TENANT }, "skill_id"],
      ["evaluate_action", { skill_id: "a.b", tenant_id: TENANT, policy_overrides: {} }, ""],
      ["request_approval", { ...filing(), idempotency_key: undefined }, "idempotency_key"],
      ["request_approval", filing({ expires_in_seconds: 5 }), "expires_in_seconds"],
      ["request_approval", filing({ idempotency_key: "has space" }), "idempotency_key"],
      ["wait_for_decision", { request_id: "apr_nothex" }, "request_id"],
      [
        "wait_for_decision",
        { request_id: "apr_0123456789abcdef", wait_seconds: MAX_WAIT_SECONDS + 1 },
        "wait_seconds",
      ],
      ["get_request", {}, "request_id"],
      ["cancel_request", { request_id: "apr_0123456789abcdef", reason: "x".repeat(501) }, "reason"],
    ];
    for (const [tool, args, field] of cases) {
      const answer = await callTool(agent, tool, args);
      expect(answer, `${tool} ${JSON.stringify(args).slice(0, 80)}`).toMatchObject({
        isError: true,
        code: "validation_failed",
      });
      const issues = (answer.structured as { error: { details: { issues: { path: string }[] } } }).error
        .details.issues;
      expect(
        issues.map((issue) => issue.path),
        tool,
      ).toContain(field);
    }
  });

  it("an unknown tool is a tool error not_found", async () => {
    expect(await callTool(agent, "approve_everything", {})).toMatchObject({
      isError: true,
      code: "not_found",
    });
  });

  it("waits at most MAX_WAIT_SECONDS and by default DEFAULT_WAIT_SECONDS", () => {
    expect(DEFAULT_WAIT_SECONDS).toBeLessThanOrEqual(MAX_WAIT_SECONDS);
  });
});

describe("MCP: security", () => {
  it("a missing key is a 401 in the error envelope with a Bearer challenge; the client cannot connect", async () => {
    const res = await call("/mcp", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe("unauthorized");
    await expect(connectMcp(null)).rejects.toThrow(/401|nauthorized/);
    const revoked = await createTestKey("agent", { revoked: true });
    await expect(connectMcp(revoked.token)).rejects.toThrow(/401|nauthorized/);
  });

  it("GET and DELETE (no stream, no session) answer 405 in the envelope", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await call("/mcp", { method, headers: agentKey.headers });
      expect(res.status, method).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
      expect(((await res.json()) as ErrorEnvelope).error.code).toBe("method_not_allowed");
    }
  });

  it("malformed MCP messages are 400s in the error envelope", async () => {
    for (const body of ["{}", '{"jsonrpc":"2.0","id":1}', "[1]", ""]) {
      const res = await call("/mcp", {
        method: "POST",
        headers: { ...agentKey.headers, "Content-Type": "application/json" },
        body,
      });
      expect(res.status, body).toBe(400);
      const envelope = (await res.json()) as ErrorEnvelope;
      expect(typeof envelope.error.code, body).toBe("string");
      expect(envelope.error.request_id).toEqual(expect.any(String));
    }
  });

  it("refuses a JSON-RPC batch, which would spend one rate-limit token on many tool calls", async () => {
    const call1 = { jsonrpc: "2.0", method: "tools/list" };
    const res = await call("/mcp", {
      method: "POST",
      headers: { ...agentKey.headers, "Content-Type": "application/json" },
      body: JSON.stringify([
        { ...call1, id: 1 },
        { ...call1, id: 2 },
      ]),
    });
    expect(res.status).toBe(400);
    const envelope = (await res.json()) as ErrorEnvelope;
    expect(envelope.error.code).toBe("validation_failed");
    expect(JSON.stringify(envelope.error.details)).toContain("batches are not supported");
  });

  it("another tenant's request is not_found to get, wait and cancel, as on REST (404); its tenant is forbidden", async () => {
    const filed = await file();
    const outsider = await connect(await createTestKey("agent", { tenantId: "globex" }));
    for (const [tool, args] of [
      ["get_request", { request_id: filed.request_id }],
      ["wait_for_decision", { request_id: filed.request_id, wait_seconds: 1 }],
      ["cancel_request", { request_id: filed.request_id }],
    ] as const) {
      expect(await callTool(outsider, tool, args), tool).toMatchObject({ isError: true, code: "not_found" });
    }
    await expect(outsider.readResource({ uri: `policy-request://${filed.request_id}` })).rejects.toThrow(
      /not_found/,
    );
    expect((await call(`/api/v1/policy/requests/${filed.request_id}`, { headers: {} })).status).toBe(401);
    for (const tool of ["evaluate_action", "request_approval"]) {
      const args = tool === "evaluate_action" ? { skill_id: "email.send", tenant_id: TENANT } : filing();
      const answer = await callTool(outsider, tool, args);
      expect(answer, tool).toMatchObject({ isError: true, code: "forbidden" });
      expect(answer.text).toContain(`may not act for tenant ${TENANT}`);
    }
    // Still pending: nothing the outsider did touched it.
    const [row] = await testSql()`SELECT status FROM approval_requests WHERE id = ${filed.request_id}`;
    expect(row?.status).toBe("pending");
  });

  it("an agent key bound to itself cannot act for another agent", async () => {
    const other = { agent_id: "bot-2" };
    const evaluated = await callTool(agent, "evaluate_action", {
      skill_id: "a.b",
      tenant_id: TENANT,
      ...other,
    });
    expect(evaluated).toMatchObject({ isError: true, code: "forbidden" });
    expect(evaluated.text).toContain("acts only as agent bot-1");
    expect(await callTool(agent, "request_approval", filing(other))).toMatchObject({
      isError: true,
      code: "forbidden",
    });
    // Without agent_id it files as itself.
    const own = await file();
    const read = await callTool(agent, "get_request", { request_id: own.request_id });
    expect((read.structured.request as { agent_id: string }).agent_id).toBe("bot-1");
  });

  it("the agent that filed a request cannot cancel another agent's, even in its tenant", async () => {
    const filed = await file();
    const colleague = await connect(await createTestKey("agent", { tenantId: TENANT, agentIds: null }));
    expect(await callTool(colleague, "cancel_request", { request_id: filed.request_id })).toMatchObject({
      isError: true,
      code: "forbidden",
    });
  });

  it("an approver key may read and wait, but the agent-only tools refuse it (forbidden, logged and counted)", async () => {
    const filed = await file();
    const approver = await connect(approverKey);
    for (const [tool, args] of [
      ["evaluate_action", { skill_id: "a.b", tenant_id: TENANT }],
      ["request_approval", filing()],
      ["cancel_request", { request_id: filed.request_id }],
    ] as const) {
      const answer = await callTool(approver, tool, args);
      expect(answer, tool).toMatchObject({ isError: true, code: "forbidden" });
      expect(answer.text, tool).toMatch(/^forbidden: The approver role may not /);
    }
    expect(await callTool(approver, "get_request", { request_id: filed.request_id })).toMatchObject({
      isError: false,
      structured: { status: "pending" },
    });

    // A refusal is logged as auth_forbidden with the key id (never the key) and counted.
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const metrics = recordingDataset();
    try {
      const res = await call(
        "/mcp",
        {
          method: "POST",
          headers: {
            ...approverKey.headers,
            "Content-Type": "application/json",
            Accept: "application/json, text/event-stream",
          },
          body: JSON.stringify({
            jsonrpc: "2.0",
            id: 7,
            method: "tools/call",
            params: { name: "evaluate_action", arguments: { skill_id: "a.b", tenant_id: TENANT } },
          }),
        },
        { METRICS: metrics, LOG_LEVEL: "info" },
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { result: { isError: boolean } };
      expect(body.result.isError).toBe(true);
    } finally {
      spy.mockRestore();
    }
    const refusal = lines.find((line) => line.includes('"msg":"auth_forbidden"'));
    expect(refusal).toContain(approverKey.keyId);
    expect(lines.join("\n")).not.toContain(approverKey.token);
    const request = lines.find((line) => line.includes('"msg":"request"'));
    expect(request).toContain('"mcp_tool":"evaluate_action"');
    expect(request).toContain('"mcp_tool_error":"forbidden"');
    expect(metrics.totals()["nova_auth_failures_total{reason=forbidden}"]).toBe(1);
  });

  it("spends the key's rate limit like /api (429 rate_limited in the envelope when exhausted)", async () => {
    const key = await createTestKey("agent", { tenantId: TENANT });
    // The tests' tiny limiter (3 per 10 s, vitest.config.ts) as the agent limiter, as rate-limits.test.ts does.
    const limiter = (env as unknown as { RATE_LIMIT_TINY: RateLimit }).RATE_LIMIT_TINY;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const res = await call(
        "/mcp",
        {
          method: "POST",
          headers: {
            ...key.headers,
            "Content-Type": "application/json",
            Accept: "application/json, text/event-stream",
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: i, method: "tools/list" }),
        },
        { RATE_LIMIT_AGENT: limiter },
      );
      statuses.push(res.status);
      // Answers carry requests and decisions: never cached, like everything under /api.
      expect(res.headers.get("cache-control")).toBe("no-store");
      if (res.status === 429) {
        expect(((await res.json()) as ErrorEnvelope).error.code).toBe("rate_limited");
        expect(res.headers.get("retry-after")).toEqual(expect.any(String));
      }
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toEqual([429, 429]);
  });
});
