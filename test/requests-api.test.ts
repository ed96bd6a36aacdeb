// /api/v1/policy/requests (src/routes/requests.ts) from the outside: filing (pending or auto-approved,
// webhook URL and secret rules, validation, Idempotency-Key), reading with ?wait, listing with filters
// and cursor paging, cancelling, the admin's reject-pending, and the metrics. Approve/reject/expire and
// the races are test/requests-lifecycle.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_PAYLOAD_BYTES } from "../src/domain/limits.ts";
import type { StatusHistoryEntry } from "../src/domain/vocabulary.ts";
import { decryptSecret, importEncryptionKey } from "../src/lib/secrets.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";

const REQUESTS = "/api/v1/policy/requests";
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const REQUEST_ID = /^apr_[0-9a-f]{16}$/;
const SECRET = "whsec-test-0123456789-abcdef";

interface Created {
  request_id: string;
  correlation_id: string;
  status: string;
  required_level: number;
  escalate_to: string | null;
  expires_at: string;
  created_at: string;
  policy_version: number;
}

/** A status_history entry as the API returns it. */
type HistoryEntry = StatusHistoryEntry;

interface ApprovalRequest {
  request_id: string;
  correlation_id: string;
  status: string;
  status_history: HistoryEntry[];
  policy_type: string;
  skill_id: string;
  tenant_id: string;
  agent_id: string | null;
  payload: unknown;
  payload_hash: string;
  requested_by: string;
  justification: string | null;
  required_level: number;
  current_level: number;
  approvers: unknown[];
  escalate_to: string | null;
  webhook_url: string | null;
  webhook_attempts: number;
  last_webhook_status: string | null;
  expires_at: string;
  created_at: string;
  updated_at: string;
  resolved_at: string | null;
}

interface Issues {
  issues: { path: string; message: string }[];
}

interface Sent<T> {
  status: number;
  headers: Headers;
  body: T & ErrorEnvelope;
}

let admin: TestKey;
let agent: TestKey;
let approver: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  agent = await createTestKey("agent");
  approver = await createTestKey("approver");
});

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function send<T>(
  method: string,
  path: string,
  options: {
    key?: TestKey;
    body?: unknown;
    headers?: Record<string, string>;
    env?: Record<string, unknown>;
  } = {},
): Promise<Sent<T>> {
  const headers: Record<string, string> = { ...(options.key ?? admin).headers, ...options.headers };
  const init: RequestInit = { method, headers };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const res = await call(path, init, options.env);
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: (text ? JSON.parse(text) : undefined) as T & ErrorEnvelope,
  };
}

/** A valid create body for `tenant`. */
function filing(tenant: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    policy_type: "cost",
    skill_id: "email.send",
    tenant_id: tenant,
    payload: { to: "ops@example.com", max_tokens: 200 },
    requested_by: "agent-7",
    ...overrides,
  };
}

function create(
  body: Record<string, unknown>,
  options: { key?: TestKey; headers?: Record<string, string>; env?: Record<string, unknown> } = {},
) {
  return send<Created>("POST", REQUESTS, { key: agent, ...options, body });
}

/** Files a request and insists it was accepted. */
async function file(body: Record<string, unknown>, key: TestKey = agent): Promise<Created> {
  const sent = await create(body, { key });
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  return sent.body;
}

async function read(id: string, key: TestKey = admin, query = ""): Promise<Sent<ApprovalRequest>> {
  return send<ApprovalRequest>("GET", `${REQUESTS}/${id}${query}`, { key });
}

async function readOk(id: string): Promise<ApprovalRequest> {
  const sent = await read(id);
  expect(sent.status).toBe(200);
  return sent.body;
}

function list(query: string, key: TestKey = admin) {
  return send<ApprovalRequest[]>("GET", `${REQUESTS}?${query}`, { key });
}

async function listIds(query: string, key: TestKey = admin): Promise<string[]> {
  const sent = await list(query, key);
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  return sent.body.map((row) => row.request_id);
}

async function approve(id: string, key: TestKey = approver) {
  return send<ApprovalRequest>("POST", `${REQUESTS}/${id}/approve`, { key, body: {} });
}

/** Makes requests of `tenant` auto-approvable (an auto_approve cost policy for the tenant). */
async function autoApproveTenant(tenant: string) {
  const res = await postJson(
    "/api/v1/admin/policies/approval-levels",
    { policy_type: "cost", tenant_id: tenant, approval_level: "auto_approve" },
    admin.headers,
  );
  expect(res.status, await res.clone().text()).toBe(201);
}

async function storedCount(tenant: string): Promise<number> {
  const [row] = await testSql()`SELECT count(*)::int AS n FROM approval_requests WHERE tenant_id = ${tenant}`;
  return Number(row?.n);
}

async function outboxOf(id: string) {
  return (await testSql()`SELECT event, payload FROM webhook_outbox WHERE request_id = ${id} ORDER BY id`) as {
    event: string;
    payload: Record<string, unknown>;
  }[];
}

async function ledgerOf(id: string) {
  return (await testSql()`SELECT tenant_id, agent_id, skill_id, amount_cents::int AS amount_cents, source, reference
    FROM spend_ledger WHERE reference = ${id}`) as Record<string, unknown>[];
}

function issuePaths(body: ErrorEnvelope): string[] {
  return ((body.error.details as Issues | undefined)?.issues ?? []).map((issue) => issue.path);
}

function lastHistory(request: ApprovalRequest): HistoryEntry | undefined {
  return request.status_history.at(-1);
}

describe("filing a request", () => {
  it("files a pending request under the global agent_approve policy, answering exactly the documented fields", async () => {
    const tenant = newTenant();
    const before = Date.now();
    const sent = await create(filing(tenant));
    expect(sent.status).toBe(200);
    expect(sent.headers.get("Idempotent-Replayed")).toBeNull();
    const created = sent.body;
    expect(Object.keys(created).sort()).toEqual([
      "correlation_id",
      "created_at",
      "escalate_to",
      "expires_at",
      "policy_version",
      "request_id",
      "required_level",
      "status",
    ]);
    expect(created).toMatchObject({ status: "pending", required_level: 3, escalate_to: null });
    expect(created.request_id).toMatch(REQUEST_ID);
    expect(created.correlation_id).toMatch(/^cor_[0-9a-f]{32}$/);
    expect(created.created_at).toMatch(ISO);
    expect(created.expires_at).toMatch(ISO);
    expect(Number.isInteger(created.policy_version) && created.policy_version >= 1).toBe(true);
    const createdAt = Date.parse(created.created_at);
    expect(createdAt).toBeGreaterThanOrEqual(before - 1000);
    expect(createdAt).toBeLessThanOrEqual(Date.now() + 1000);
    // expires_in_seconds defaults to 300.
    expect(Date.parse(created.expires_at) - createdAt).toBe(300_000);

    const stored = await readOk(created.request_id);
    expect(stored).toMatchObject({
      request_id: created.request_id,
      correlation_id: created.correlation_id,
      status: "pending",
      required_level: 3,
      current_level: 0,
      approvers: [],
      resolved_at: null,
      created_at: created.created_at,
      expires_at: created.expires_at,
    });
    expect(stored.status_history).toEqual([
      {
        from_status: null,
        to_status: "pending",
        actor: "agent-7",
        reason: "created",
        timestamp: created.created_at,
      },
    ]);
    // Pending is not spending, and there is no webhook to queue.
    expect(await ledgerOf(created.request_id)).toEqual([]);
    expect(await outboxOf(created.request_id)).toEqual([]);
  });

  it("auto-approves within an auto_approve policy's ceilings: history null→auto_approved, resolved_at, ledger row", async () => {
    const tenant = newTenant();
    await autoApproveTenant(tenant);
    const created = await file(filing(tenant, { agent_id: "bot-1", payload: { max_tokens: 500 } }));
    expect(created).toMatchObject({ status: "auto_approved", required_level: 1 });

    const stored = await readOk(created.request_id);
    expect(stored.status).toBe("auto_approved");
    expect(stored.status_history).toEqual([
      {
        from_status: null,
        to_status: "auto_approved",
        actor: "agent-7",
        reason: expect.stringMatching(/^auto-approved: auto_approve policy, 10 cents and 500 tokens/),
        timestamp: created.created_at,
      },
    ]);
    expect(stored.resolved_at).toBe(created.created_at);
    expect(await ledgerOf(created.request_id)).toEqual([
      {
        tenant_id: tenant,
        agent_id: "bot-1",
        skill_id: "email.send",
        amount_cents: 10,
        source: "auto_approval",
        reference: created.request_id,
      },
    ]);

    // Over the token ceiling, the same tenant's request waits for a human (at least agent_approve).
    const big = await file(filing(tenant, { payload: { max_tokens: 5000 } }));
    expect(big).toMatchObject({ status: "pending", required_level: 3 });
    expect((await readOk(big.request_id)).resolved_at).toBeNull();
    expect(await ledgerOf(big.request_id)).toEqual([]);
  });

  it("answers the full request with every contract field, and never the webhook secret or its ciphertext", async () => {
    const tenant = newTenant();
    const created = await file(
      filing(tenant, {
        agent_id: "bot-9",
        justification: "monthly report",
        webhook_url: "https://hooks.example.com/policy",
        webhook_secret: SECRET,
        expires_in_seconds: 600,
      }),
    );
    const sent = await read(created.request_id);
    expect(sent.status).toBe(200);
    const body = sent.body as unknown as Record<string, unknown>;
    for (const field of [
      "request_id",
      "correlation_id",
      "status",
      "status_history",
      "policy_type",
      "skill_id",
      "tenant_id",
      "agent_id",
      "payload",
      "requested_by",
      "justification",
      "required_level",
      "current_level",
      "approvers",
      "escalate_to",
      "webhook_attempts",
      "last_webhook_status",
      "expires_at",
      "created_at",
      "updated_at",
    ]) {
      expect(body, field).toHaveProperty(field);
    }
    expect(sent.body).toMatchObject({
      request_id: created.request_id,
      correlation_id: created.correlation_id,
      status: "pending",
      policy_type: "cost",
      skill_id: "email.send",
      tenant_id: tenant,
      agent_id: "bot-9",
      payload: { to: "ops@example.com", max_tokens: 200 },
      requested_by: "agent-7",
      justification: "monthly report",
      required_level: 3,
      current_level: 0,
      approvers: [],
      escalate_to: null,
      webhook_url: "https://hooks.example.com/policy",
      webhook_attempts: 0,
      last_webhook_status: null,
      expires_at: created.expires_at,
      created_at: created.created_at,
      updated_at: created.created_at,
    });
    expect(Array.isArray(sent.body.status_history)).toBe(true);
    expect(Date.parse(created.expires_at) - Date.parse(created.created_at)).toBe(600_000);

    const [stored] = await testSql()`SELECT webhook_secret_encrypted, webhook_key_version
      FROM approval_requests WHERE id = ${created.request_id}`;
    const ciphertext = String(stored?.webhook_secret_encrypted);
    expect(ciphertext.startsWith("v1.")).toBe(true);
    expect(ciphertext).not.toContain(SECRET);
    expect(stored?.webhook_key_version).toBe(1);
    // It is the secret, encrypted under the deployment's key (so webhooks can still be signed).
    const key = await importEncryptionKey(testEnv().WEBHOOK_ENCRYPTION_KEY);
    expect(key).toBeDefined();
    if (key) expect(await decryptSecret(ciphertext, key)).toBe(SECRET);

    // Neither the read, the list nor the create answer carries the secret in any form.
    const listed = await list(`tenant_id=${tenant}`);
    for (const text of [JSON.stringify(sent.body), JSON.stringify(listed.body), JSON.stringify(created)]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(ciphertext);
      expect(text).not.toMatch(/secret/i);
    }
  });

  it("queues the created event in the outbox only when the request has a webhook_url", async () => {
    const tenant = newTenant();
    const withHook = await file(filing(tenant, { webhook_url: "https://hooks.example.com/a" }));
    const withoutHook = await file(filing(tenant));
    const explicitNull = await file(filing(tenant, { webhook_url: null }));

    expect(await outboxOf(withHook.request_id)).toEqual([
      {
        event: "approval_request_created",
        payload: expect.objectContaining({
          event: "approval_request_created",
          request_id: withHook.request_id,
          correlation_id: withHook.correlation_id,
          status: "pending",
          tenant_id: tenant,
          skill_id: "email.send",
          required_level: 3,
          actor: "agent-7",
          reason: "created",
        }),
      },
    ]);
    expect(await outboxOf(withoutHook.request_id)).toEqual([]);
    expect(await outboxOf(explicitNull.request_id)).toEqual([]);
  });

  it("hashes the payload canonically: the same payload in another key order has the same payload_hash", async () => {
    const tenant = newTenant();
    const one = await file(
      filing(tenant, { payload: { b: { y: 2, x: 1 }, a: [1, { d: 4, c: 3 }], max_tokens: 5 } }),
    );
    const two = await file(
      filing(tenant, { payload: { max_tokens: 5, a: [1, { c: 3, d: 4 }], b: { x: 1, y: 2 } } }),
    );
    const other = await file(
      filing(tenant, { payload: { b: { y: 2, x: 1 }, a: [{ d: 4, c: 3 }, 1], max_tokens: 5 } }),
    );
    const [first, second, third] = await Promise.all(
      [one, two, other].map((created) => readOk(created.request_id)),
    );
    expect(first?.payload_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(second?.payload_hash).toBe(first?.payload_hash);
    // Array order is part of the payload.
    expect(third?.payload_hash).not.toBe(first?.payload_hash);
  });
});

describe("webhook_url and webhook_secret", () => {
  const refused: [string, string][] = [
    ["ftp", "ftp://hooks.example.com/policy"],
    ["plain http outside development", "http://hooks.example.com/policy"],
    ["credentials in the URL", "https://user:pass@hooks.example.com/policy"],
    ["localhost", "https://localhost/policy"],
    ["a 10/8 address", "https://10.0.0.1/policy"],
    ["a 192.168/16 address", "https://192.168.1.1/policy"],
    ["IPv6 loopback", "https://[::1]/policy"],
    ["a 5000-character URL", `https://hooks.example.com/${"a".repeat(5000 - 26)}`],
    ["a 3000-character URL", `https://hooks.example.com/${"a".repeat(3000 - 26)}`],
    ["a fragment", "https://hooks.example.com/policy#x"],
    ["no URL at all", "hooks.example.com/policy"],
  ];

  it.each(refused)("refuses %s with 400 on webhook_url, storing nothing", async (_name, url) => {
    const tenant = newTenant();
    const sent = await create(filing(tenant, { webhook_url: url }));
    expect(sent.status).toBe(400);
    expect(sent.body.error.code).toBe("validation_failed");
    expect(issuePaths(sent.body)).toEqual(["webhook_url"]);
    expect(await storedCount(tenant)).toBe(0);
  });

  it("takes http://localhost only when ALLOW_INSECURE_WEBHOOKS is true", async () => {
    const tenant = newTenant();
    const url = "http://localhost:9999/hook";
    const refused = await create(filing(tenant, { webhook_url: url }));
    expect(refused.status).toBe(400);
    expect(issuePaths(refused.body)).toEqual(["webhook_url"]);

    const allowed = await create(filing(tenant, { webhook_url: url }), {
      env: { ALLOW_INSECURE_WEBHOOKS: "true" },
    });
    expect(allowed.status).toBe(200);
    expect((await readOk(allowed.body.request_id)).webhook_url).toBe(url);
    // Credentials stay refused even in development.
    const withCredentials = await create(filing(tenant, { webhook_url: "http://u:p@localhost:9999/hook" }), {
      env: { ALLOW_INSECURE_WEBHOOKS: "true" },
    });
    expect(withCredentials.status).toBe(400);
    expect(await storedCount(tenant)).toBe(1);
  });

  it("refuses a webhook_secret without a webhook_url, and one outside 16..256 characters", async () => {
    const tenant = newTenant();
    const alone = await create(filing(tenant, { webhook_secret: SECRET }));
    expect(alone.status).toBe(400);
    expect(alone.body.error.code).toBe("validation_failed");
    expect(issuePaths(alone.body)).toEqual(["webhook_secret"]);

    const hook = { webhook_url: "https://hooks.example.com/policy" };
    for (const secret of ["x".repeat(15), "x".repeat(257)]) {
      const sent = await create(filing(tenant, { ...hook, webhook_secret: secret }));
      expect(sent.status, `${secret.length} characters`).toBe(400);
      expect(issuePaths(sent.body)).toEqual(["webhook_secret"]);
    }
    expect(await storedCount(tenant)).toBe(0);
    for (const secret of ["x".repeat(16), "x".repeat(256)]) {
      expect((await create(filing(tenant, { ...hook, webhook_secret: secret }))).status).toBe(200);
    }
  });

  it("answers 500 and stores nothing when a secret is sent but the deployment has no usable encryption key", async () => {
    const tenant = newTenant();
    const body = filing(tenant, { webhook_url: "https://hooks.example.com/policy", webhook_secret: SECRET });
    for (const key of ["", "dG9vLXNob3J0"]) {
      const sent = await create(body, { env: { WEBHOOK_ENCRYPTION_KEY: key } });
      expect(sent.status, `key ${JSON.stringify(key)}`).toBe(500);
      expect(sent.body.error.code).toBe("internal_error");
      expect(JSON.stringify(sent.body)).not.toContain(SECRET);
    }
    expect(await storedCount(tenant)).toBe(0);
    // Without a secret the key is not needed.
    const { webhook_secret: _secret, ...withoutSecret } = body;
    const sent = await create(withoutSecret, { env: { WEBHOOK_ENCRYPTION_KEY: "" } });
    expect(sent.status).toBe(200);
    expect(await storedCount(tenant)).toBe(1);
  });
});

describe("refused bodies and callers", () => {
  it("refuses malformed bodies with 400 naming the field, storing nothing", async () => {
    const tenant = newTenant();
    const valid = filing(tenant);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...valid, policy_type: undefined }, "policy_type"],
      [{ ...valid, skill_id: undefined }, "skill_id"],
      [{ ...valid, tenant_id: undefined }, "tenant_id"],
      [{ ...valid, requested_by: undefined }, "requested_by"],
      [{ ...valid, policy_type: "budget" }, "policy_type"],
      [{ ...valid, payload: [1, 2] }, "payload"],
      [{ ...valid, payload: "text" }, "payload"],
      [{ ...valid, skill_id: "has space" }, "skill_id"],
      [{ ...valid, expires_in_seconds: 10 }, "expires_in_seconds"],
      [{ ...valid, expires_in_seconds: 29 }, "expires_in_seconds"],
      [{ ...valid, expires_in_seconds: 604_801 }, "expires_in_seconds"],
      [{ ...valid, expires_in_seconds: 60.5 }, "expires_in_seconds"],
      [{ ...valid, expires_in_seconds: "60" }, "expires_in_seconds"],
      [{ ...valid, justification: "j".repeat(2001) }, "justification"],
      [{ ...valid, status: "approved" }, ""],
    ];
    for (const [body, path] of cases) {
      const sent = await create(body);
      expect(sent.status, JSON.stringify(body).slice(0, 200)).toBe(400);
      expect(sent.body.error.code).toBe("validation_failed");
      expect(issuePaths(sent.body), JSON.stringify(body).slice(0, 200)).toContain(path);
    }
    expect(await storedCount(tenant)).toBe(0);
  });

  it("takes expires_in_seconds from 30 to 604800 inclusive", async () => {
    const tenant = newTenant();
    for (const seconds of [30, 604_800]) {
      const created = await file(filing(tenant, { expires_in_seconds: seconds }));
      expect(Date.parse(created.expires_at) - Date.parse(created.created_at)).toBe(seconds * 1000);
    }
  });

  it("refuses a payload over 64 KiB with 413, storing nothing", async () => {
    const tenant = newTenant();
    const sent = await create(filing(tenant, { payload: { blob: "x".repeat(MAX_PAYLOAD_BYTES) } }));
    expect(sent.status).toBe(413);
    expect(sent.body.error.code).toBe("payload_too_large");
    expect(await storedCount(tenant)).toBe(0);
    // Just under the limit is accepted.
    const fits = await create(filing(tenant, { payload: { blob: "x".repeat(MAX_PAYLOAD_BYTES - 20) } }));
    expect(fits.status).toBe(200);
  });

  it("refuses approver keys (403) and a tenant-scoped agent filing for another tenant (403)", async () => {
    const own = newTenant();
    const other = newTenant();
    const refusedApprover = await create(filing(own), { key: approver });
    expect(refusedApprover.status).toBe(403);
    expect(refusedApprover.body.error.code).toBe("forbidden");

    const scoped = await createTestKey("agent", { tenantId: own });
    const refusedTenant = await create(filing(other), { key: scoped });
    expect(refusedTenant.status).toBe(403);
    expect(refusedTenant.body.error.code).toBe("forbidden");
    expect(await storedCount(other)).toBe(0);
    expect(await storedCount(own)).toBe(0);

    expect((await create(filing(own), { key: scoped })).status).toBe(200);
    expect((await create(filing(other), { key: admin })).status).toBe(200);
  });
});

describe("Idempotency-Key", () => {
  async function rowsWithKey(idempotencyKey: string) {
    return (await testSql()`SELECT id, created_by_key_id FROM approval_requests
      WHERE idempotency_key = ${idempotencyKey} ORDER BY created_at`) as {
      id: string;
      created_by_key_id: string;
    }[];
  }

  it("replays the first answer to a retry with the same body, marked Idempotent-Replayed, with one row", async () => {
    const tenant = newTenant();
    const idempotencyKey = `idem-${crypto.randomUUID()}`;
    const headers = { "Idempotency-Key": idempotencyKey };
    const body = filing(tenant, { webhook_url: "https://hooks.example.com/x", webhook_secret: SECRET });
    const first = await create(body, { headers });
    expect(first.status).toBe(200);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();

    await sleep(5);
    const retry = await create(body, { headers });
    expect(retry.status).toBe(200);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.body).toEqual(first.body);

    // The same body with its keys in another order is the same body.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const again = await create(reordered, { headers });
    expect(again.status).toBe(200);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.body).toEqual(first.body);

    expect((await rowsWithKey(idempotencyKey)).map((row) => row.id)).toEqual([first.body.request_id]);
    expect(await storedCount(tenant)).toBe(1);
    // A replay queues no second created event.
    expect((await outboxOf(first.body.request_id)).map((row) => row.event)).toEqual([
      "approval_request_created",
    ]);
  });

  it("replays an auto-approved answer without a second ledger entry", async () => {
    const tenant = newTenant();
    await autoApproveTenant(tenant);
    const headers = { "Idempotency-Key": `idem-${crypto.randomUUID()}` };
    const first = await create(filing(tenant), { headers });
    expect(first.body.status).toBe("auto_approved");
    const retry = await create(filing(tenant), { headers });
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.body).toEqual(first.body);
    expect(await ledgerOf(first.body.request_id)).toHaveLength(1);
  });

  it("answers 409 to the same key with a different body, keeping the first request", async () => {
    const tenant = newTenant();
    const idempotencyKey = `idem-${crypto.randomUUID()}`;
    const headers = { "Idempotency-Key": idempotencyKey };
    const first = await create(filing(tenant), { headers });
    expect(first.status).toBe(200);
    for (const change of [
      { payload: { to: "someone-else@example.com", max_tokens: 200 } },
      { expires_in_seconds: 301 },
      { justification: "now with a reason" },
    ]) {
      const sent = await create(filing(tenant, change), { headers });
      expect(sent.status, JSON.stringify(change)).toBe(409);
      expect(sent.body.error.code).toBe("conflict");
      expect(sent.headers.get("Idempotent-Replayed")).toBeNull();
    }
    expect((await rowsWithKey(idempotencyKey)).map((row) => row.id)).toEqual([first.body.request_id]);
    expect(await storedCount(tenant)).toBe(1);
  });

  it("scopes keys to the API key that sent them: another key's same Idempotency-Key files a new request", async () => {
    const tenant = newTenant();
    const idempotencyKey = `idem-${crypto.randomUUID()}`;
    const headers = { "Idempotency-Key": idempotencyKey };
    const otherAgent = await createTestKey("agent");
    const mine = await create(filing(tenant), { headers });
    const theirs = await create(filing(tenant), { key: otherAgent, headers });
    expect([mine.status, theirs.status]).toEqual([200, 200]);
    expect(theirs.headers.get("Idempotent-Replayed")).toBeNull();
    expect(theirs.body.request_id).not.toBe(mine.body.request_id);
    expect((await rowsWithKey(idempotencyKey)).map((row) => [row.id, row.created_by_key_id]).sort()).toEqual(
      [
        [mine.body.request_id, agent.keyId],
        [theirs.body.request_id, otherAgent.keyId],
      ].sort(),
    );
  });

  it("refuses a malformed Idempotency-Key with 400", async () => {
    const tenant = newTenant();
    for (const value of ["has space", "x".repeat(201)]) {
      const sent = await create(filing(tenant), { headers: { "Idempotency-Key": value } });
      expect(sent.status, value).toBe(400);
      expect(sent.body.error.code).toBe("validation_failed");
    }
    expect(await storedCount(tenant)).toBe(0);
  });
});

describe("listing requests", () => {
  it("filters by tenant, status (repeatable), skill, agent, requester and creation time, newest first", async () => {
    const tenant = newTenant();
    const otherTenant = newTenant();
    const filed: Created[] = [];
    const specs: Record<string, unknown>[] = [
      { skill_id: "email.send", agent_id: "bot-a", requested_by: "alice" },
      { skill_id: "email.send", agent_id: "bot-b", requested_by: "bob" },
      { skill_id: "files.delete", agent_id: "bot-a", requested_by: "alice" },
      { skill_id: "files.delete", agent_id: "bot-b", requested_by: "carol" },
      { skill_id: "email.send", requested_by: "alice" },
    ];
    for (const spec of specs) {
      filed.push(await file(filing(tenant, spec)));
      await sleep(3);
    }
    await file(filing(otherTenant, specs[0]));
    const ids = filed.map((created) => created.request_id);
    const [r0, r1, r2, r3, r4] = ids;
    // r1 approved, r3 cancelled; the rest stay pending.
    expect((await approve(String(r1))).status).toBe(200);
    expect((await send("POST", `${REQUESTS}/${r3}/cancel`, { key: admin, body: {} })).status).toBe(200);

    const newestFirst = [...ids].reverse();
    const all = await list(`tenant_id=${tenant}`);
    expect(all.status).toBe(200);
    expect(all.body.map((row) => row.request_id)).toEqual(newestFirst);
    expect(all.body.every((row) => row.tenant_id === tenant)).toBe(true);
    const times = all.body.map((row) => Date.parse(row.created_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    // Not a full page: no Link.
    expect(all.headers.get("Link")).toBeNull();

    const only = (wanted: (string | undefined)[]) => newestFirst.filter((id) => wanted.includes(id));
    expect(await listIds(`tenant_id=${tenant}&status=pending`)).toEqual(only([r0, r2, r4]));
    expect(await listIds(`tenant_id=${tenant}&status=approved`)).toEqual(only([r1]));
    expect(await listIds(`tenant_id=${tenant}&status=pending&status=approved`)).toEqual(
      only([r0, r1, r2, r4]),
    );
    expect(await listIds(`tenant_id=${tenant}&status=cancelled&status=rejected`)).toEqual(only([r3]));
    expect(await listIds(`tenant_id=${tenant}&status=expired`)).toEqual([]);
    expect(await listIds(`tenant_id=${tenant}&skill_id=files.delete`)).toEqual(only([r2, r3]));
    expect(await listIds(`tenant_id=${tenant}&agent_id=bot-a`)).toEqual(only([r0, r2]));
    expect(await listIds(`tenant_id=${tenant}&requested_by=alice`)).toEqual(only([r0, r2, r4]));
    expect(
      await listIds(`tenant_id=${tenant}&requested_by=alice&skill_id=email.send&status=pending`),
    ).toEqual(only([r0, r4]));

    const middle = encodeURIComponent(filed[2]?.created_at ?? "");
    expect(await listIds(`tenant_id=${tenant}&created_after=${middle}`)).toEqual(only([r2, r3, r4]));
    expect(await listIds(`tenant_id=${tenant}&created_before=${middle}`)).toEqual(only([r0, r1]));
    const withOffset = encodeURIComponent(
      new Date(Date.parse(filed[2]?.created_at ?? "")).toISOString().replace("Z", "+00:00"),
    );
    expect(await listIds(`tenant_id=${tenant}&created_before=${withOffset}`)).toEqual(only([r0, r1]));

    expect(await listIds(`tenant_id=${tenant}&limit=2`)).toEqual(newestFirst.slice(0, 2));
    expect(await listIds(`tenant_id=${tenant}&limit=2&offset=2`)).toEqual(newestFirst.slice(2, 4));
    expect(await listIds(`tenant_id=${tenant}&limit=2&offset=4`)).toEqual(newestFirst.slice(4));
    expect(await listIds(`tenant_id=${tenant}&offset=5`)).toEqual([]);
  });

  it("refuses bad filters with 400", async () => {
    for (const query of [
      "status=open",
      "limit=0",
      "limit=1001",
      "limit=two",
      "offset=-1",
      "created_after=yesterday",
      "created_before=2026-01-01T00:00:00",
      "tenant_id=has%20space",
    ]) {
      const sent = await list(query);
      expect(sent.status, query).toBe(400);
      expect(sent.body.error.code, query).toBe("validation_failed");
    }
  });

  it("answers 500 requests by default and up to 1000 with limit, linking the next page only when full", async () => {
    const tenant = newTenant();
    const prefix = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
    await testSql()`INSERT INTO approval_requests
        (id, correlation_id, status, policy_type, skill_id, tenant_id, payload, payload_hash, requested_by,
         required_level, expires_at, created_at)
      SELECT 'apr_' || ${prefix} || lpad(to_hex(g), 8, '0'), 'cor_' || ${prefix} || g, 'pending', 'cost',
        'email.send', ${tenant}, '{}', 'hash', 'agent-7', 3, now() + interval '5 minutes',
        now() - g * interval '1 second'
      FROM generate_series(1, 501) AS g`;
    const byDefault = await list(`tenant_id=${tenant}`);
    expect(byDefault.status).toBe(200);
    expect(byDefault.body).toHaveLength(500);
    expect(byDefault.headers.get("Link")).toMatch(/cursor=/);
    const upTo1000 = await list(`tenant_id=${tenant}&limit=1000`);
    expect(upTo1000.body).toHaveLength(501);
    expect(upTo1000.headers.get("Link")).toBeNull();
  });

  it("pages through 5 requests two at a time with the Link header's cursor, each exactly once, in order", async () => {
    const tenant = newTenant();
    const filed: string[] = [];
    for (let index = 0; index < 5; index++) {
      filed.push((await file(filing(tenant))).request_id);
      await sleep(3);
    }
    const expected = [...filed].reverse();

    const seen: string[] = [];
    const pageSizes: number[] = [];
    let next: string | null = `${REQUESTS}?tenant_id=${tenant}&limit=2`;
    for (let page = 0; next && page < 10; page++) {
      const sent: Sent<ApprovalRequest[]> = await send<ApprovalRequest[]>("GET", next);
      expect(sent.status, next).toBe(200);
      pageSizes.push(sent.body.length);
      seen.push(...sent.body.map((row) => row.request_id));
      const link = sent.headers.get("Link");
      if (link === null) {
        next = null;
      } else {
        const match = /^<([^>]+)>; rel="next"$/.exec(link);
        expect(match, link).not.toBeNull();
        next = match?.[1] ?? null;
        expect(next).toContain(`tenant_id=${tenant}`);
        expect(next).toContain("limit=2");
        expect(next).toContain("cursor=");
      }
    }
    expect(pageSizes).toEqual([2, 2, 1]);
    expect(seen).toEqual(expected);

    // The cursor survives requests filed after the first page was read: they do not shift later pages.
    const first = await list(`tenant_id=${tenant}&limit=2`);
    const link = /^<([^>]+)>/.exec(first.headers.get("Link") ?? "")?.[1] ?? "";
    await file(filing(tenant));
    expect(await listIds(link.replace(`${REQUESTS}?`, ""))).toEqual(expected.slice(2, 4));
  });

  it("refuses a cursor it did not issue with 400", async () => {
    for (const cursor of [
      "not-a-cursor",
      btoa("2026-01-01T00:00:00.000Z|apr_x"),
      btoa("yesterday|apr_0000000000000000"),
      "%%%",
    ]) {
      const sent = await list(`cursor=${encodeURIComponent(cursor)}`);
      expect(sent.status, cursor).toBe(400);
      expect(sent.body.error.code).toBe("validation_failed");
      expect(issuePaths(sent.body)).toEqual(["cursor"]);
      expect(sent.body.error.details).toMatchObject({ target: "query" });
    }
  });

  it("confines a tenant-scoped key to its tenant: its list, 403 for another tenant_id, 404 for another's request", async () => {
    const own = newTenant();
    const other = newTenant();
    const mine = await file(filing(own));
    const theirs = await file(filing(other));
    const scoped = await createTestKey("agent", { tenantId: own });
    const scopedApprover = await createTestKey("approver", { tenantId: own });

    for (const key of [scoped, scopedApprover]) {
      const listed = await list("limit=500", key);
      expect(listed.status).toBe(200);
      expect(listed.body.length).toBeGreaterThan(0);
      expect(new Set(listed.body.map((row) => row.tenant_id))).toEqual(new Set([own]));
      expect(listed.body.map((row) => row.request_id)).toContain(mine.request_id);
      expect(await listIds(`tenant_id=${own}`, key)).toEqual([mine.request_id]);

      const refused = await list(`tenant_id=${other}`, key);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe("forbidden");

      const hidden = await read(theirs.request_id, key);
      expect(hidden.status).toBe(404);
      expect(hidden.body.error.code).toBe("not_found");
      expect((await read(mine.request_id, key)).status).toBe(200);
    }
    // An unscoped key sees both.
    expect((await read(theirs.request_id, agent)).status).toBe(200);
  });

  it("answers the runbook's GET ?status=pending with a JSON array of pending requests", async () => {
    const created = await file(filing(newTenant()));
    const sent = await list("status=pending");
    expect(sent.status).toBe(200);
    expect(sent.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(Array.isArray(sent.body)).toBe(true);
    expect(sent.body.length).toBeGreaterThan(0);
    expect(sent.body.every((row) => row.status === "pending")).toBe(true);
    // Newest first: the request just filed leads.
    expect(sent.body[0]?.request_id).toBe(created.request_id);
  });

  it("answers 404 for an unknown request and 400 for a malformed id", async () => {
    const unknown = await read("apr_0123456789abcdef");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("not_found");
    const malformed = await read("req_123");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("validation_failed");
  });
});

describe("reading with ?wait", () => {
  it("holds a pending request's answer for about the wait, then answers it still pending", async () => {
    const created = await file(filing(newTenant()));
    const started = Date.now();
    const sent = await read(created.request_id, admin, "?wait=3");
    const elapsed = Date.now() - started;
    expect(sent.status).toBe(200);
    expect(sent.body.status).toBe("pending");
    expect(elapsed).toBeGreaterThanOrEqual(2500);
    expect(elapsed).toBeLessThan(10_000);
  });

  it("answers as soon as a concurrent approval decides the request, well before the wait is up", async () => {
    const created = await file(filing(newTenant()));
    const started = Date.now();
    const [waited, approved] = await Promise.all([
      read(created.request_id, admin, "?wait=20"),
      (async () => {
        await sleep(1000);
        return approve(created.request_id);
      })(),
    ]);
    const elapsed = Date.now() - started;
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe("approved");
    expect(waited.status).toBe(200);
    expect(waited.body.status).toBe("approved");
    expect(waited.body.resolved_at).toBe(approved.body.resolved_at);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(5000);
  });

  it("does not wait at all for a request that is already decided", async () => {
    const tenant = newTenant();
    await autoApproveTenant(tenant);
    const created = await file(filing(tenant));
    const started = Date.now();
    const sent = await read(created.request_id, admin, "?wait=20");
    expect(sent.body.status).toBe("auto_approved");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("refuses a wait over 55 seconds or below zero with 400", async () => {
    const created = await file(filing(newTenant()));
    for (const wait of ["56", "-1", "1.5", "soon"]) {
      const sent = await read(created.request_id, admin, `?wait=${wait}`);
      expect(sent.status, wait).toBe(400);
      expect(sent.body.error.code).toBe("validation_failed");
    }
    const started = Date.now();
    expect((await read(created.request_id, admin, "?wait=0")).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("cancelling", () => {
  function cancel(id: string, key: TestKey, body?: unknown) {
    return send<ApprovalRequest>("POST", `${REQUESTS}/${id}/cancel`, { key, body });
  }

  it("lets the requester (principal = requested_by) cancel, with history and the cancelled event", async () => {
    const tenant = newTenant();
    const requester = await createTestKey("agent", {
      tenantId: tenant,
      principalId: `req-${crypto.randomUUID().slice(0, 8)}`,
    });
    // Filed by another key, in the requester's name.
    const created = await file(
      filing(tenant, { requested_by: requester.principalId, webhook_url: "https://hooks.example.com/c" }),
      admin,
    );
    const sent = await cancel(created.request_id, requester, { reason: "no longer needed" });
    expect(sent.status).toBe(200);
    expect(sent.body.status).toBe("cancelled");
    expect(sent.body.resolved_at).toMatch(ISO);
    expect(sent.body.status_history).toHaveLength(2);
    expect(lastHistory(sent.body)).toEqual({
      from_status: "pending",
      to_status: "cancelled",
      actor: requester.principalId,
      reason: "no longer needed",
      timestamp: sent.body.resolved_at,
    });
    expect(await readOk(created.request_id)).toEqual(sent.body);
    expect((await outboxOf(created.request_id)).map((row) => row.event)).toEqual([
      "approval_request_created",
      "approval_request_cancelled",
    ]);
  });

  it("lets the key that filed the request cancel it, whatever requested_by says", async () => {
    const tenant = newTenant();
    const filer = await createTestKey("agent", { tenantId: tenant });
    const created = await file(filing(tenant, { requested_by: "someone-else" }), filer);
    const sent = await cancel(created.request_id, filer);
    expect(sent.status).toBe(200);
    expect(sent.body.status).toBe("cancelled");
    expect(lastHistory(sent.body)).toMatchObject({ actor: filer.principalId, reason: null });
  });

  it("refuses another agent of the same tenant (403) and an approver (403), leaving the request pending", async () => {
    const tenant = newTenant();
    const created = await file(filing(tenant, { requested_by: "agent-7" }));
    const colleague = await createTestKey("agent", { tenantId: tenant });
    const sent = await cancel(created.request_id, colleague, { reason: "mine now" });
    expect(sent.status).toBe(403);
    expect(sent.body.error.code).toBe("forbidden");
    for (const key of [approver, await createTestKey("approver", { tenantId: tenant, maxLevel: 5 })]) {
      const refused = await cancel(created.request_id, key);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe("forbidden");
    }
    // An agent confined to another tenant does not learn the request exists.
    const outsider = await createTestKey("agent", { tenantId: newTenant(), principalId: "agent-7" });
    expect((await cancel(created.request_id, outsider)).status).toBe(404);

    const stored = await readOk(created.request_id);
    expect(stored.status).toBe("pending");
    expect(stored.status_history).toHaveLength(1);
  });

  it("lets an admin cancel anyone's request; a second cancel is 409 with the current status", async () => {
    const tenant = newTenant();
    const created = await file(filing(tenant));
    const sent = await cancel(created.request_id, admin);
    expect(sent.status).toBe(200);
    expect(sent.body.status).toBe("cancelled");
    expect(lastHistory(sent.body)).toMatchObject({
      from_status: "pending",
      to_status: "cancelled",
      actor: admin.principalId,
      reason: null,
    });

    const again = await cancel(created.request_id, admin, { reason: "twice" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("conflict");
    expect(again.body.error.details).toEqual({ status: "cancelled" });
    // The requesting agent's key gets the same answer.
    const byFiler = await cancel(created.request_id, agent);
    expect(byFiler.status).toBe(409);
    expect(byFiler.body.error.details).toEqual({ status: "cancelled" });
    expect((await readOk(created.request_id)).status_history).toHaveLength(2);
  });

  it("refuses to cancel a decided request (409 with its status) and rejects a malformed body (400)", async () => {
    const tenant = newTenant();
    const approvedOne = await file(filing(tenant));
    expect((await approve(approvedOne.request_id)).status).toBe(200);
    const refused = await cancel(approvedOne.request_id, agent);
    expect(refused.status).toBe(409);
    expect(refused.body.error.details).toEqual({ status: "approved" });

    const pending = await file(filing(tenant));
    const malformed = await cancel(pending.request_id, agent, { reason: "ok", extra: true });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("validation_failed");
    expect((await readOk(pending.request_id)).status).toBe("pending");
  });
});

describe("reject-pending (admin)", () => {
  const REJECT_PENDING = `${REQUESTS}/reject-pending`;
  function rejectPending(body: unknown, key: TestKey = admin) {
    return send<{ rejected: number; request_ids: string[] }>("POST", REJECT_PENDING, { key, body });
  }

  it("rejects exactly the tenant's pending requests, each with history and its webhook event; a rerun rejects none", async () => {
    const tenant = newTenant();
    const otherTenant = newTenant();
    const hooked = await file(filing(tenant, { webhook_url: "https://hooks.example.com/r" }));
    const plain = await file(filing(tenant, { skill_id: "files.delete" }));
    const approvedOne = await file(filing(tenant, { webhook_url: "https://hooks.example.com/r" }));
    expect((await approve(approvedOne.request_id)).status).toBe(200);
    const cancelledOne = await file(filing(tenant));
    expect((await send("POST", `${REQUESTS}/${cancelledOne.request_id}/cancel`, { body: {} })).status).toBe(
      200,
    );
    const foreign = await file(filing(otherTenant, { webhook_url: "https://hooks.example.com/r" }));
    const approvedBefore = await readOk(approvedOne.request_id);

    const sent = await rejectPending({ reason: "incident 42", tenant_id: tenant });
    expect(sent.status).toBe(200);
    expect(sent.body.rejected).toBe(2);
    expect([...sent.body.request_ids].sort()).toEqual([hooked.request_id, plain.request_id].sort());

    for (const id of [hooked.request_id, plain.request_id]) {
      const stored = await readOk(id);
      expect(stored.status).toBe("rejected");
      expect(stored.resolved_at).toMatch(ISO);
      expect(stored.status_history).toHaveLength(2);
      expect(lastHistory(stored)).toEqual({
        from_status: "pending",
        to_status: "rejected",
        actor: admin.principalId,
        reason: "incident 42",
        timestamp: stored.resolved_at,
      });
    }
    const events = await outboxOf(hooked.request_id);
    expect(events.map((row) => row.event)).toEqual(["approval_request_created", "approval_request_rejected"]);
    expect(events[1]?.payload).toMatchObject({
      event: "approval_request_rejected",
      request_id: hooked.request_id,
      status: "rejected",
      tenant_id: tenant,
      actor: admin.principalId,
      reason: "incident 42",
    });
    expect(await outboxOf(plain.request_id)).toEqual([]);

    // Untouched: the approved and cancelled requests, and the other tenant's pending one.
    expect(await readOk(approvedOne.request_id)).toEqual(approvedBefore);
    expect((await outboxOf(approvedOne.request_id)).map((row) => row.event)).not.toContain(
      "approval_request_rejected",
    );
    expect((await readOk(cancelledOne.request_id)).status).toBe("cancelled");
    const foreignStored = await readOk(foreign.request_id);
    expect(foreignStored.status).toBe("pending");
    expect(foreignStored.status_history).toHaveLength(1);
    expect((await outboxOf(foreign.request_id)).map((row) => row.event)).toEqual([
      "approval_request_created",
    ]);

    const rerun = await rejectPending({ reason: "incident 42", tenant_id: tenant });
    expect(rerun.status).toBe(200);
    expect(rerun.body).toEqual({ rejected: 0, request_ids: [] });
    expect((await readOk(hooked.request_id)).status_history).toHaveLength(2);
  });

  it("narrows by skill_id, agent_id and created_before", async () => {
    const tenant = newTenant();
    const email = await file(filing(tenant, { skill_id: "email.send", agent_id: "bot-a" }));
    await sleep(5);
    const files = await file(filing(tenant, { skill_id: "files.delete", agent_id: "bot-b" }));
    await sleep(5);
    const later = await file(filing(tenant, { skill_id: "files.delete", agent_id: "bot-a" }));

    const bySkillAndTime = await rejectPending({
      reason: "deletes frozen",
      tenant_id: tenant,
      skill_id: "files.delete",
      created_before: later.created_at,
    });
    expect(bySkillAndTime.body).toEqual({ rejected: 1, request_ids: [files.request_id] });

    const byAgent = await rejectPending({ reason: "bot-a paused", tenant_id: tenant, agent_id: "bot-a" });
    expect(byAgent.body.rejected).toBe(2);
    expect([...byAgent.body.request_ids].sort()).toEqual([email.request_id, later.request_id].sort());
    expect(lastHistory(await readOk(email.request_id))?.reason).toBe("bot-a paused");
    expect(lastHistory(await readOk(files.request_id))?.reason).toBe("deletes frozen");
  });

  it("is admin-only (403 for agents and approvers) and needs a reason (400), changing nothing when refused", async () => {
    const tenant = newTenant();
    const created = await file(filing(tenant));
    for (const key of [agent, approver]) {
      const sent = await rejectPending({ reason: "x", tenant_id: tenant }, key);
      expect(sent.status).toBe(403);
      expect(sent.body.error.code).toBe("forbidden");
    }
    for (const [body, path] of [
      [{ tenant_id: tenant }, "reason"],
      [{ reason: "", tenant_id: tenant }, "reason"],
      [{ reason: "r".repeat(501), tenant_id: tenant }, "reason"],
      [{ reason: "x", tenant_id: tenant, created_before: "yesterday" }, "created_before"],
      [{ reason: "x", tenant_id: tenant, status: "escalated" }, ""],
    ] as const) {
      const sent = await rejectPending(body);
      expect(sent.status, JSON.stringify(body)).toBe(400);
      expect(sent.body.error.code).toBe("validation_failed");
      expect(issuePaths(sent.body)).toContain(path);
    }
    expect((await readOk(created.request_id)).status).toBe("pending");
  });
});

describe("metrics", () => {
  function approvalSeries(totals: Record<string, number>) {
    return Object.fromEntries(
      Object.entries(totals).filter(([series]) => series.startsWith("nova_approval_")),
    );
  }

  it("counts requests by status and actions by result", async () => {
    const tenant = newTenant();
    const autoTenant = newTenant();
    await autoApproveTenant(autoTenant);
    const metrics = recordingDataset();
    const env = { METRICS: metrics };

    const idempotency = { "Idempotency-Key": `idem-${crypto.randomUUID()}` };
    const pending = await create(filing(tenant), { env });
    const auto = await create(filing(autoTenant), { env, headers: idempotency });
    expect([pending.body.status, auto.body.status]).toEqual(["pending", "auto_approved"]);
    expect(approvalSeries(metrics.totals())).toEqual({
      "nova_approval_requests_total{status=pending}": 1,
      "nova_approval_requests_total{status=auto_approved}": 1,
      "nova_approval_actions_total{result=auto_approved}": 1,
    });

    // A replay files nothing, so it counts nothing.
    const replay = await create(filing(autoTenant), { env, headers: idempotency });
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
    expect(approvalSeries(metrics.totals())).toEqual({
      "nova_approval_requests_total{status=pending}": 1,
      "nova_approval_requests_total{status=auto_approved}": 1,
      "nova_approval_actions_total{result=auto_approved}": 1,
    });

    const approved = await send<ApprovalRequest>("POST", `${REQUESTS}/${pending.body.request_id}/approve`, {
      key: approver,
      body: {},
      env,
    });
    expect(approved.body.status).toBe("approved");
    const second = await create(filing(tenant), { env });
    const third = await create(filing(tenant), { env });
    const bulk = await send("POST", `${REQUESTS}/reject-pending`, {
      body: { reason: "metrics", tenant_id: tenant },
      env,
    });
    expect(bulk.status).toBe(200);
    expect([second.status, third.status]).toEqual([200, 200]);
    expect(approvalSeries(metrics.totals())).toEqual({
      "nova_approval_requests_total{status=pending}": 3,
      "nova_approval_requests_total{status=auto_approved}": 1,
      "nova_approval_actions_total{result=auto_approved}": 1,
      "nova_approval_actions_total{result=approved}": 1,
      "nova_approval_actions_total{result=rejected}": 2,
    });
  });
});

describe("judging by a cached policy", () => {
  it("never files against spend that crossed a budget since the policy was read: it re-reads and refuses", async () => {
    const tenant = newTenant();
    const budget = await postJson(
      "/api/v1/admin/policies/budgets",
      { tenant_id: tenant, period: "day", limit_cents: 25, enforcement: "hard" },
      admin.headers,
    );
    expect(budget.status).toBe(201);
    // Cost 10 of 25: filed, and the policy with spend 0 is now cached in this isolate.
    const first = await file(filing(tenant));
    expect(first.status).toBe("pending");
    const [snapshot] =
      await testSql()`SELECT policy_snapshot->>'spend_as_of' AS at FROM approval_requests WHERE id = ${first.request_id}`;
    expect(snapshot?.at).toMatch(ISO);

    // Spend moves under the cache, within the budget's outcome: still filed from the cache.
    const report = (amount: number) =>
      postJson(
        "/api/v1/policy/usage",
        { usage_id: `u-${crypto.randomUUID()}`, tenant_id: tenant, amount_cents: amount },
        agent.headers,
      );
    expect((await report(5)).status).toBe(201);
    expect((await file(filing(tenant))).status).toBe("pending");

    // 16 spent: 16 + 10 = 26 > 25 crosses it, though the cached policy says 0 spent.
    expect((await report(11)).status).toBe(201);
    const refused = await create(filing(tenant));
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.body.error.code).toBe("policy_denied");
    expect(refused.body.error.message).toMatch(/hard daily budget/);
    expect(await storedCount(tenant)).toBe(2);
  });
});
