// The M5 compatibility contract (DESIGN.md §3) from the outside: the original M5 clients' request
// bodies, replayed unchanged against every M5 operation (eval, create, read, list, approve, reject),
// with the status codes and response fields those clients rely on. Where this service is stricter
// than M5 on purpose, the error must tell the client exactly what to send instead. Behaviour beyond
// the contract (idempotency, paging, races, webhooks) is covered by the other requests/eval suites.
import { beforeAll, describe, expect, it } from "vitest";
import type { StatusHistoryEntry } from "../src/domain/vocabulary.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const REQUESTS = "/api/v1/policy/requests";
const EVAL = "/api/v1/policy/eval";
/** A tenant no other suite uses (each file has its own database too). */
const TENANT = "m5-contract-tenant";
/** The agent's key principal, sent as both agent_id and requested_by. */
const AGENT_ID = "m5-bot";
const APPROVER_ID = "m5-approver";
const APPROVER_MAX_LEVEL = 4;
const WEBHOOK_URL = "https://hooks.example.com/policy";
const WEBHOOK_SECRET = "m5-shared-webhook-secret-0123";
const M5_PAYLOAD = { amount: 120, currency: "USD", recipient: "acct-42", max_tokens: 200 };

const REQUEST_ID = /^apr_[0-9a-f]{16}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const POLICY_TYPES = ["cost", "capability", "resource", "rate_limit"] as const;
const HISTORY_KEYS = ["actor", "from_status", "reason", "timestamp", "to_status"];

/** The original M5 load-test client's create body, exactly: no payload, no agent_id. */
const M5_LOAD_TEST_BODY = {
  policy_type: "cost",
  skill_id: "m5.load_test",
  tenant_id: TENANT,
  requested_by: AGENT_ID,
  justification: "M5 load test",
  expires_in_seconds: 3600,
} as const;

interface Created {
  request_id: string;
  status: string;
  required_level: number;
  escalate_to: string | null;
  expires_at: string;
  created_at: string;
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
  requested_by: string;
  justification: string | null;
  required_level: number;
  current_level: number;
  approvers: { approver_id: string; level: number; notes: string | null }[];
  escalate_to: string | null;
  webhook_attempts: number;
  last_webhook_status: string | null;
  expires_at: string;
  created_at: string;
  updated_at: string;
}

interface EvalResult {
  decision: string;
  reasons: unknown[];
  simulated_cost_cents: unknown;
  policy_version: unknown;
  approval_level_required: unknown;
  violations: unknown;
  timestamp: string;
}

interface Sent<T> {
  status: number;
  headers: Headers;
  body: T;
}

let agent: TestKey;
let approver: TestKey;
let secondApprover: TestKey;

beforeAll(async () => {
  agent = await createTestKey("agent", { principalId: AGENT_ID, tenantId: TENANT });
  approver = await createTestKey("approver", {
    principalId: APPROVER_ID,
    maxLevel: APPROVER_MAX_LEVEL,
    tenantId: TENANT,
  });
  secondApprover = await createTestKey("approver", {
    principalId: "m5-approver-2",
    maxLevel: APPROVER_MAX_LEVEL,
    tenantId: TENANT,
  });
});

async function send<T>(
  method: string,
  path: string,
  key: TestKey | null,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Sent<T>> {
  const allHeaders: Record<string, string> = { ...key?.headers, ...headers };
  const init: RequestInit = { method, headers: allHeaders };
  if (body !== undefined) {
    allHeaders["Content-Type"] ??= "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const res = await call(path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

const create = (body: Record<string, unknown>, key: TestKey = agent) =>
  send<Created & ErrorEnvelope>("POST", REQUESTS, key, body);
const read = (id: string, key: TestKey = approver) =>
  send<ApprovalRequest & ErrorEnvelope>("GET", `${REQUESTS}/${id}`, key);
const decide = (id: string, kind: "approve" | "reject", body: unknown, key: TestKey = approver) =>
  send<ApprovalRequest & ErrorEnvelope>("POST", `${REQUESTS}/${id}/${kind}`, key, body);
const evaluate = (body: Record<string, unknown>, key: TestKey = agent) =>
  send<EvalResult & ErrorEnvelope>("POST", EVAL, key, body);

/** Files a request and insists on the M5 create answer. */
async function file(body: Record<string, unknown> = M5_LOAD_TEST_BODY): Promise<Created> {
  const sent = await create(body);
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  return sent.body;
}

async function readOk(id: string): Promise<ApprovalRequest> {
  const sent = await read(id);
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  return sent.body;
}

function expectInteger(value: unknown, min: number, max: number) {
  expect(Number.isInteger(value), `${String(value)} is an integer`).toBe(true);
  expect(value as number).toBeGreaterThanOrEqual(min);
  expect(value as number).toBeLessThanOrEqual(max);
}

function expectNullOrString(value: unknown) {
  expect(value === null || typeof value === "string", `${JSON.stringify(value)} is null or a string`).toBe(
    true,
  );
}

function expectIso(value: unknown) {
  expect(value).toEqual(expect.stringMatching(ISO));
  expect(Number.isNaN(Date.parse(value as string))).toBe(false);
}

/** The M5 create answer: `{request_id, status, required_level, escalate_to, expires_at, created_at}`. */
function expectCreated(body: Created, expiresInSeconds: number) {
  expect(body.request_id).toEqual(expect.stringMatching(REQUEST_ID));
  expect(["pending", "auto_approved"]).toContain(body.status);
  expectInteger(body.required_level, 1, 5);
  expectNullOrString(body.escalate_to);
  expectIso(body.created_at);
  expectIso(body.expires_at);
  const lifetimeMs = Date.parse(body.expires_at) - Date.parse(body.created_at);
  expect(Math.abs(lifetimeMs - expiresInSeconds * 1000)).toBeLessThanOrEqual(2000);
}

/** A history entry has exactly the M5 fields. */
function expectHistoryEntry(entry: HistoryEntry) {
  expect(Object.keys(entry).sort()).toEqual(HISTORY_KEYS);
  expectNullOrString(entry.from_status);
  expect(typeof entry.to_status).toBe("string");
  expect(typeof entry.actor).toBe("string");
  expectNullOrString(entry.reason);
  expectIso(entry.timestamp);
}

/** Every field DESIGN.md §3 names for the full request, with sensible types. */
function expectFullRequest(request: ApprovalRequest) {
  expect(request.request_id).toEqual(expect.stringMatching(REQUEST_ID));
  expect(typeof request.correlation_id).toBe("string");
  expect(request.correlation_id.length).toBeGreaterThan(0);
  // M5's statuses, "more may be added" (e.g. cancelled): any non-empty string.
  expect(request.status).toEqual(expect.stringMatching(/^[a-z_]+$/));
  expect(Array.isArray(request.status_history)).toBe(true);
  expect(request.status_history.length).toBeGreaterThan(0);
  for (const entry of request.status_history) expectHistoryEntry(entry);
  expect(request.status_history.at(-1)?.to_status).toBe(request.status);
  expect(POLICY_TYPES).toContain(request.policy_type);
  expect(typeof request.skill_id).toBe("string");
  expect(typeof request.tenant_id).toBe("string");
  expectNullOrString(request.agent_id);
  expect(request.payload).toEqual(expect.any(Object));
  expect(Array.isArray(request.payload)).toBe(false);
  expect(typeof request.requested_by).toBe("string");
  expectNullOrString(request.justification);
  expectInteger(request.required_level, 1, 5);
  expectInteger(request.current_level, 0, 5);
  expect(Array.isArray(request.approvers)).toBe(true);
  expectNullOrString(request.escalate_to);
  expectInteger(request.webhook_attempts, 0, Number.MAX_SAFE_INTEGER);
  expectNullOrString(request.last_webhook_status);
  expectIso(request.expires_at);
  expectIso(request.created_at);
  expectIso(request.updated_at);
}

/** `{error: {code, message, request_id}}` and nothing else at the top level. */
function expectErrorEnvelope(sent: Sent<unknown>, status: number, code: string): ErrorEnvelope["error"] {
  expect(sent.status, JSON.stringify(sent.body)).toBe(status);
  expect(sent.body).toEqual({
    error: expect.objectContaining({
      code,
      message: expect.any(String),
      request_id: expect.any(String),
    }),
  });
  const { error } = sent.body as ErrorEnvelope;
  expect(error.message.length).toBeGreaterThan(0);
  expect(error.request_id.length).toBeGreaterThan(0);
  expect(error.request_id).toBe(sent.headers.get("X-Request-Id"));
  return error;
}

function issuesOf(error: ErrorEnvelope["error"]): { path: string; message: string }[] {
  const details = error.details as { issues?: { path: string; message: string }[] } | undefined;
  return details?.issues ?? [];
}

describe("POST /api/v1/policy/requests with M5 bodies", () => {
  it("accepts the original M5 load-test client's exact body (no payload, no agent_id)", async () => {
    const sent = await create({ ...M5_LOAD_TEST_BODY });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expectCreated(sent.body, M5_LOAD_TEST_BODY.expires_in_seconds);
  });

  const optionalFields: [string, Record<string, unknown>][] = [
    ["agent_id as a string", { agent_id: AGENT_ID }],
    ["agent_id: null", { agent_id: null }],
    ["payload: {}", { payload: {} }],
    ["a non-empty payload", { payload: M5_PAYLOAD }],
    ["justification as a string", { justification: "monthly invoice run" }],
    ["justification: null", { justification: null }],
    ["webhook_url: null", { webhook_url: null }],
    ["an https webhook_url to a public host", { webhook_url: WEBHOOK_URL }],
    ["webhook_secret: null", { webhook_secret: null }],
    [
      "a webhook_secret of >= 16 chars with its webhook_url",
      { webhook_url: WEBHOOK_URL, webhook_secret: WEBHOOK_SECRET },
    ],
    [
      "every optional field at once",
      {
        agent_id: AGENT_ID,
        payload: M5_PAYLOAD,
        justification: "all fields",
        webhook_url: WEBHOOK_URL,
        webhook_secret: WEBHOOK_SECRET,
        expires_in_seconds: 600,
      },
    ],
  ];

  it.each(optionalFields)("accepts the M5 body plus %s, and stores what was sent", async (_name, extra) => {
    const body: Record<string, unknown> = { ...M5_LOAD_TEST_BODY, ...extra };
    const sent = await create(body);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expectCreated(sent.body, body.expires_in_seconds as number);

    const stored = await readOk(sent.body.request_id);
    expectFullRequest(stored);
    expect(stored).toMatchObject({
      request_id: sent.body.request_id,
      agent_id: (body.agent_id as string | null | undefined) ?? null,
      payload: (body.payload as Record<string, unknown> | undefined) ?? {},
      justification: (body.justification as string | null | undefined) ?? null,
      requested_by: AGENT_ID,
    });
    // The secret signs webhooks; it is never handed back.
    expect(JSON.stringify(stored)).not.toContain(WEBHOOK_SECRET);
  });

  it("defaults expires_in_seconds to 300 when the client omits it", async () => {
    const { expires_in_seconds: _omitted, ...body } = M5_LOAD_TEST_BODY;
    const sent = await create(body);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expectCreated(sent.body, 300);
  });

  it.each(POLICY_TYPES)("accepts policy_type %s", async (policyType) => {
    const sent = await create({ ...M5_LOAD_TEST_BODY, policy_type: policyType });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expectCreated(sent.body, M5_LOAD_TEST_BODY.expires_in_seconds);
    expect((await readOk(sent.body.request_id)).policy_type).toBe(policyType);
  });
});

describe("POST /api/v1/policy/eval with M5 bodies", () => {
  function expectEvalAnswer(sent: Sent<EvalResult & ErrorEnvelope>) {
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const body = sent.body;
    expect(["allow", "deny", "requires_approval"]).toContain(body.decision);
    expect(Array.isArray(body.reasons)).toBe(true);
    for (const reason of body.reasons) expect(typeof reason).toBe("string");
    expect(typeof body.simulated_cost_cents).toBe("number");
    expect(Number.isFinite(body.simulated_cost_cents)).toBe(true);
    expect(body).toHaveProperty("policy_version");
    expect(body.policy_version).not.toBeNull();
    expectInteger(body.approval_level_required, 1, 5);
    expect(Array.isArray(body.violations)).toBe(true);
    expectIso(body.timestamp);
  }

  it("answers {skill_id, tenant_id} alone with every M5 field, exactly typed", async () => {
    expectEvalAnswer(await evaluate({ skill_id: "m5.load_test", tenant_id: TENANT }));
  });

  const evalFields: [string, Record<string, unknown>][] = [
    ["agent_id as a string", { agent_id: AGENT_ID }],
    ["agent_id: null", { agent_id: null }],
    ["payload: {}", { payload: {} }],
    ["a non-empty payload", { payload: M5_PAYLOAD }],
    ["policy_version: null", { policy_version: null }],
    ["simulate_cost: true", { simulate_cost: true }],
    ["simulate_cost: false", { simulate_cost: false }],
    [
      "every field of the M5 model",
      { agent_id: AGENT_ID, payload: M5_PAYLOAD, policy_version: null, simulate_cost: true },
    ],
  ];

  it.each(evalFields)("answers {skill_id, tenant_id} plus %s", async (_name, extra) => {
    expectEvalAnswer(await evaluate({ skill_id: "m5.load_test", tenant_id: TENANT, ...extra }));
  });
});

describe("GET /api/v1/policy/requests/{id}", () => {
  it("has every field of the M5 full request; a request filed without payload or agent_id reads {} and null", async () => {
    const created = await file();
    const request = await readOk(created.request_id);
    expectFullRequest(request);
    expect(request).toMatchObject({
      request_id: created.request_id,
      status: "pending",
      policy_type: M5_LOAD_TEST_BODY.policy_type,
      skill_id: M5_LOAD_TEST_BODY.skill_id,
      tenant_id: TENANT,
      agent_id: null,
      payload: {},
      requested_by: AGENT_ID,
      justification: M5_LOAD_TEST_BODY.justification,
      required_level: created.required_level,
      current_level: 0,
      approvers: [],
      escalate_to: created.escalate_to,
      webhook_attempts: 0,
      last_webhook_status: null,
      expires_at: created.expires_at,
    });
    expect(Date.parse(request.created_at)).toBe(Date.parse(created.created_at));
    expect(request.status_history).toHaveLength(1);
    expect(request.status_history[0]).toMatchObject({ from_status: null, to_status: "pending" });
  });
});

describe("GET /api/v1/policy/requests?status=pending", () => {
  it("is a JSON array (the runbook's jq 'length') holding the pending requests filed", async () => {
    const first = await file();
    const second = await file({ ...M5_LOAD_TEST_BODY, agent_id: AGENT_ID, payload: M5_PAYLOAD });
    const sent = await send<ApprovalRequest[]>("GET", `${REQUESTS}?status=pending`, approver);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(Array.isArray(sent.body)).toBe(true);
    expect(sent.body.length).toBeGreaterThanOrEqual(2);
    const ids = sent.body.map((request) => request.request_id);
    expect(ids).toEqual(expect.arrayContaining([first.request_id, second.request_id]));
    for (const request of sent.body) {
      expect(request.status).toBe("pending");
      expectFullRequest(request);
    }
  });
});

describe("approve and reject with M5 bodies", () => {
  it("approves with {approver_id, level: 4, notes} from a level-4 approver key: the full request, approved", async () => {
    const created = await file();
    expect(created.status).toBe("pending");
    expect(created.required_level).toBe(3); // the default when no policy row matches
    const notes = "checked against the invoice";
    const sent = await decide(created.request_id, "approve", { approver_id: APPROVER_ID, level: 4, notes });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expectFullRequest(sent.body);
    expect(sent.body.request_id).toBe(created.request_id);
    expect(sent.body.status).toBe("approved");
    expect(sent.body.current_level).toBeGreaterThanOrEqual(sent.body.required_level);
    expect(sent.body.approvers).toEqual(
      expect.arrayContaining([expect.objectContaining({ approver_id: APPROVER_ID, level: 4, notes })]),
    );
    // Exactly M5's entry: the optional fields other entry points add (via, on_behalf_of) stay out.
    expect(Object.keys(sent.body.approvers.at(-1) ?? {}).sort()).toEqual([
      "action",
      "approver_id",
      "level",
      "notes",
      "timestamp",
    ]);
    expect(sent.body.status_history.at(-1)).toMatchObject({ from_status: "pending", to_status: "approved" });

    const again = await readOk(created.request_id);
    expect(again.status).toBe("approved");
  });

  it("rejects with {approver_id, level, notes}: the full request, rejected", async () => {
    const created = await file({ ...M5_LOAD_TEST_BODY, agent_id: AGENT_ID, payload: M5_PAYLOAD });
    const notes = "not this month";
    const sent = await decide(created.request_id, "reject", { approver_id: APPROVER_ID, level: 3, notes });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expectFullRequest(sent.body);
    expect(sent.body.status).toBe("rejected");
    expect(sent.body.approvers).toEqual(
      expect.arrayContaining([expect.objectContaining({ approver_id: APPROVER_ID, level: 3, notes })]),
    );
    expect(sent.body.status_history.at(-1)).toMatchObject({ from_status: "pending", to_status: "rejected" });
  });

  it("answers a second approve on a decided request with 409 in the error envelope", async () => {
    const created = await file();
    const first = await decide(created.request_id, "approve", {
      approver_id: APPROVER_ID,
      level: 4,
      notes: "ok",
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const second = await decide(
      created.request_id,
      "approve",
      { approver_id: "m5-approver-2", level: 4, notes: "me too" },
      secondApprover,
    );
    expectErrorEnvelope(second, 409, "conflict");
    expect((await readOk(created.request_id)).status).toBe("approved");
  });
});

describe("where this service is stricter than M5, the error says what to send", () => {
  it("a webhook_secret under 16 characters: 400 validation_failed, webhook_secret 'at least 16'", async () => {
    const sent = await create({
      ...M5_LOAD_TEST_BODY,
      webhook_url: WEBHOOK_URL,
      webhook_secret: "short-secret",
    });
    const error = expectErrorEnvelope(sent, 400, "validation_failed");
    const issue = issuesOf(error).find((entry) => entry.path === "webhook_secret");
    expect(issue, JSON.stringify(error)).toBeDefined();
    expect(issue?.message).toContain("at least 16");
  });

  it("expires_in_seconds: 10: 400 validation_failed, expires_in_seconds 'at least 30'", async () => {
    const sent = await create({ ...M5_LOAD_TEST_BODY, expires_in_seconds: 10 });
    const error = expectErrorEnvelope(sent, 400, "validation_failed");
    const issue = issuesOf(error).find((entry) => entry.path === "expires_in_seconds");
    expect(issue, JSON.stringify(error)).toBeDefined();
    expect(issue?.message).toContain("at least 30");
  });

  it("an approver_id other than the key's principal: 403 forbidden naming the key's principal", async () => {
    const created = await file();
    const sent = await decide(created.request_id, "approve", {
      approver_id: "someone-else",
      level: 4,
      notes: "on behalf of someone",
    });
    const error = expectErrorEnvelope(sent, 403, "forbidden");
    expect(error.message).toContain(APPROVER_ID);
    expect((await readOk(created.request_id)).status).toBe("pending");
  });

  it("a level above the key's maximum: 403 forbidden naming the key's maximum level", async () => {
    const created = await file();
    const sent = await decide(created.request_id, "approve", {
      approver_id: APPROVER_ID,
      level: 5,
      notes: "",
    });
    const error = expectErrorEnvelope(sent, 403, "forbidden");
    expect(error.message).toMatch(/max/i);
    expect(error.message).toMatch(new RegExp(`\\b${APPROVER_MAX_LEVEL}\\b|manual_approve`));
    expect((await readOk(created.request_id)).status).toBe("pending");
  });
});

describe("the error envelope on every 4xx of the M5 operations", () => {
  const cases: [string, number, string, () => Promise<Sent<unknown>>][] = [
    [
      "a create missing requested_by",
      400,
      "validation_failed",
      () => {
        const { requested_by: _missing, ...body } = M5_LOAD_TEST_BODY;
        return create(body);
      },
    ],
    [
      "a create with an unknown policy_type",
      400,
      "validation_failed",
      () => create({ ...M5_LOAD_TEST_BODY, policy_type: "vibes" }),
    ],
    ["an eval without tenant_id", 400, "validation_failed", () => evaluate({ skill_id: "m5.load_test" })],
    ["a body that is not JSON", 400, "malformed_json", () => send("POST", REQUESTS, agent, "{not json")],
    ["no API key", 401, "unauthorized", () => send("GET", `${REQUESTS}?status=pending`, null)],
    ["an approver filing a request", 403, "forbidden", () => create({ ...M5_LOAD_TEST_BODY }, approver)],
    ["an unknown request id", 404, "not_found", () => read("apr_0000000000000000")],
    [
      "approving an unknown request id",
      404,
      "not_found",
      () => decide("apr_0000000000000000", "approve", { approver_id: APPROVER_ID, level: 4, notes: null }),
    ],
    [
      "a body sent as text/plain",
      415,
      "unsupported_media_type",
      () =>
        send("POST", EVAL, agent, JSON.stringify({ skill_id: "m5.load_test", tenant_id: TENANT }), {
          "Content-Type": "text/plain",
        }),
    ],
  ];

  it.each(cases)("%s: %i %s", async (_name, status, code, run) => {
    expectErrorEnvelope(await run(), status, code);
  });
});
