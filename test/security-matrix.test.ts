// The security matrix: every operation in /openapi.json except the public ones is tried with no key,
// garbage, an unknown key, a revoked key and every role (routes added later are covered as soon as
// they appear in the document); then the tenant, level and self-approval rules on the routes they
// govern.
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { Role } from "../src/domain/vocabulary.ts";
import { call } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";

const PUBLIC_OPERATIONS = new Set([
  "GET /health",
  "GET /health/live",
  "GET /openapi.json",
  // The key that signs the audit checkpoints: public so anyone can check an export.
  "GET /.well-known/policy-api-audit-key",
  "GET /.well-known/jwks.json",
]);

interface Operation {
  method: string;
  path: string;
  roles: Role[];
  secured: boolean;
}

async function operations(): Promise<Operation[]> {
  const doc = (await (await call("/openapi.json")).json()) as {
    paths: Record<string, Record<string, { security?: unknown[]; "x-roles"?: Role[] }>>;
  };
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      roles: op["x-roles"] ?? [],
      secured: (op.security?.length ?? 0) > 0,
    })),
  );
}

/** A concrete URL for a templated path: parameters get well-formed placeholder values. */
const PLACEHOLDERS: Record<string, string> = {
  key_id: "0123456789abcdef",
  decision_id: `dec_${"0".repeat(20)}`,
  id: "1",
};

function concrete(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => PLACEHOLDERS[name] ?? "apr_0123456789abcdef");
}

function send(op: Operation, headers: Record<string, string> = {}) {
  const hasBody = !["GET", "DELETE"].includes(op.method);
  return call(concrete(op.path), {
    method: op.method,
    headers: hasBody ? { ...headers, "Content-Type": "application/json" } : headers,
    body: hasBody ? "{}" : undefined,
  });
}

const keys = {} as Record<Role | "revoked", TestKey>;
let ops: Operation[];

beforeAll(async () => {
  ops = await operations();
  keys.agent = await createTestKey("agent", { tenantId: "acme" });
  keys.approver = await createTestKey("approver", { maxLevel: 4 });
  keys.admin = await createTestKey("admin");
  keys.revoked = await createTestKey("admin", { revoked: true });
});

describe("security matrix", () => {
  it("covers at least the key management routes", () => {
    const names = ops.map((op) => `${op.method} ${op.path}`);
    expect(names).toEqual(
      expect.arrayContaining([
        "POST /api/v1/admin/keys",
        "GET /api/v1/admin/keys",
        "DELETE /api/v1/admin/keys/{key_id}",
      ]),
    );
  });

  it("leaves only health and the API docs public; every other operation declares the key scheme and its roles", () => {
    for (const op of ops) {
      const name = `${op.method} ${op.path}`;
      if (PUBLIC_OPERATIONS.has(name)) continue;
      expect(op.secured, `${name} declares no security`).toBe(true);
      expect(op.roles.length, `${name} declares no roles`).toBeGreaterThan(0);
    }
  });

  it("answers 401 with a Bearer challenge to no key, garbage, an unknown key and a revoked key", async () => {
    const unknown = `pak_${"f".repeat(16)}_${"A".repeat(43)}`;
    const attempts: [string, Record<string, string>][] = [
      ["no key", {}],
      ["garbage", { Authorization: "Bearer garbage" }],
      ["wrong scheme", { Authorization: `Basic ${btoa("admin:admin")}` }],
      ["unknown key", { Authorization: `Bearer ${unknown}` }],
      ["revoked key", keys.revoked.headers],
    ];
    for (const op of ops.filter((o) => o.secured)) {
      for (const [label, headers] of attempts) {
        const res = await send(op, headers);
        expect(res.status, `${op.method} ${op.path} with ${label}`).toBe(401);
        expect(res.headers.get("www-authenticate"), `${op.method} ${op.path} with ${label}`).toMatch(
          /^Bearer /,
        );
      }
    }
  });

  it("answers 403 to every role an operation does not list, before looking at its input", async () => {
    for (const op of ops.filter((o) => o.secured)) {
      for (const role of (["agent", "approver", "admin"] as const).filter((r) => !op.roles.includes(r))) {
        const res = await send(op, keys[role].headers);
        expect(res.status, `${op.method} ${op.path} as ${role}`).toBe(403);
      }
    }
  });

  it("lets every listed role past authorization (the placeholder input may then be refused as 400/404)", async () => {
    for (const op of ops.filter((o) => o.secured)) {
      for (const role of op.roles) {
        const res = await send(op, keys[role].headers);
        expect([401, 403], `${op.method} ${op.path} as ${role}`).not.toContain(res.status);
      }
    }
  });
});

describe("security matrix: tenant, level and self-approval", () => {
  // One request of tenant acme, filed by an agent key for requester bot-1, for the routes that act on it.
  let requestId: string;
  const outsiders = {} as Record<"agent" | "approver", TestKey>;
  beforeAll(async () => {
    const filer = await createTestKey("agent", { principalId: "bot-1", tenantId: "acme" });
    const res = await call("/api/v1/policy/requests", {
      method: "POST",
      headers: { ...filer.headers, "Content-Type": "application/json" },
      body: JSON.stringify({
        policy_type: "cost",
        skill_id: "payments.transfer",
        tenant_id: "acme",
        payload: {},
        requested_by: "bot-1",
      }),
    });
    requestId = ((await res.json()) as { request_id: string }).request_id;
    outsiders.agent = await createTestKey("agent", { tenantId: "globex" });
    outsiders.approver = await createTestKey("approver", { tenantId: "globex", maxLevel: 5 });
  });

  const post = (path: string, key: TestKey, body: unknown = {}) =>
    call(path, {
      method: "POST",
      headers: { ...key.headers, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });

  it("other tenant: 404 on another tenant's request, 403 when naming another tenant", async () => {
    const request = `/api/v1/policy/requests/${requestId}`;
    expect((await call(request, { headers: outsiders.agent.headers })).status).toBe(404);
    expect((await post(`${request}/approve`, outsiders.approver)).status).toBe(404);
    expect((await post(`${request}/reject`, outsiders.approver)).status).toBe(404);
    expect((await post(`${request}/cancel`, outsiders.agent)).status).toBe(404);
    expect(
      (await call("/api/v1/policy/requests?tenant_id=acme", { headers: outsiders.agent.headers })).status,
    ).toBe(403);
    expect(
      (
        await post("/api/v1/policy/eval", outsiders.agent, {
          skill_id: "a.b",
          tenant_id: "acme",
          payload: {},
        })
      ).status,
    ).toBe(403);
    const usage = { usage_id: "u-1", tenant_id: "acme", amount_cents: 1 };
    expect((await post("/api/v1/policy/usage", outsiders.agent, usage)).status).toBe(403);
    expect(
      (await call("/api/v1/policy/decisions?tenant_id=acme", { headers: outsiders.agent.headers })).status,
    ).toBe(403);
  });

  it("level too low: a body level above the key's maximum is 403, on approve and reject", async () => {
    const low = await createTestKey("approver", { tenantId: "acme", maxLevel: 3 });
    for (const action of ["approve", "reject"]) {
      const res = await post(`/api/v1/policy/requests/${requestId}/${action}`, low, { level: 4 });
      expect(res.status, action).toBe(403);
    }
  });

  it("self-approval: the requester's principal and the filing key are refused", async () => {
    const requester = await createTestKey("approver", {
      principalId: "bot-1",
      tenantId: "acme",
      maxLevel: 5,
    });
    for (const action of ["approve", "reject"]) {
      expect((await post(`/api/v1/policy/requests/${requestId}/${action}`, requester)).status, action).toBe(
        403,
      );
    }
    const stillPending = (await (
      await call(`/api/v1/policy/requests/${requestId}`, { headers: keys.admin.headers })
    ).json()) as {
      status: string;
    };
    expect(stillPending.status).toBe("pending");
  });

  it("a foreign approver_id in the body is 403", async () => {
    const approver = await createTestKey("approver", { principalId: "carol", tenantId: "acme" });
    expect(
      (await post(`/api/v1/policy/requests/${requestId}/approve`, approver, { approver_id: "dave" })).status,
    ).toBe(403);
  });
});

describe("security matrix: agent binding, requester principal, levels that decide and admin limits", () => {
  const post = (path: string, key: TestKey, body: unknown = {}) =>
    call(path, {
      method: "POST",
      headers: { ...key.headers, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });

  it("an agent key bound to itself cannot name another agent on any route that acts for one", async () => {
    const bound = await createTestKey("agent", { principalId: "bot-self", tenantId: "acme", agentIds: null });
    const evalBody = { skill_id: "a.b", tenant_id: "acme", agent_id: "bot-other" };
    const createBody = { ...evalBody, policy_type: "cost", requested_by: "bot-self" };
    expect((await post("/api/v1/policy/eval", bound, evalBody)).status).toBe(403);
    expect((await post("/api/v1/policy/requests", bound, createBody)).status).toBe(403);
    const usage = { usage_id: "u-bound", tenant_id: "acme", agent_id: "bot-other", amount_cents: 1 };
    expect((await post("/api/v1/policy/usage", bound, usage)).status).toBe(403);
    const own = await post("/api/v1/policy/requests", bound, { ...createBody, agent_id: undefined });
    expect(own.status).toBe(200);
    const { request_id } = (await own.json()) as { request_id: string };
    const filed = (await (
      await call(`/api/v1/policy/requests/${request_id}`, { headers: bound.headers })
    ).json()) as { agent_id: string | null };
    expect(filed.agent_id).toBe("bot-self");
  });

  it("the filing key's principal never decides, through any of its keys", async () => {
    const filer = await createTestKey("agent", { principalId: "erin", tenantId: "acme" });
    const res = await post("/api/v1/policy/requests", filer, {
      policy_type: "cost",
      skill_id: "a.b",
      tenant_id: "acme",
      requested_by: "not-erin",
    });
    const { request_id } = (await res.json()) as { request_id: string };
    const erinApprover = await createTestKey("approver", {
      principalId: "erin",
      tenantId: "acme",
      maxLevel: 5,
    });
    for (const action of ["approve", "reject"]) {
      expect(
        (await post(`/api/v1/policy/requests/${request_id}/${action}`, erinApprover)).status,
        action,
      ).toBe(403);
    }
  });

  it("below the required level, approve and reject decide nothing", async () => {
    const filer = await createTestKey("agent", { tenantId: "acme" });
    const res = await post("/api/v1/policy/requests", filer, {
      policy_type: "cost",
      skill_id: "a.b",
      tenant_id: "acme",
      requested_by: filer.principalId,
    });
    const { request_id, required_level } = (await res.json()) as {
      request_id: string;
      required_level: number;
    };
    const below = await createTestKey("approver", { tenantId: "acme", maxLevel: required_level - 1 });
    for (const action of ["approve", "reject"]) {
      const answer = await post(`/api/v1/policy/requests/${request_id}/${action}`, below);
      expect(answer.status, action).toBe(200);
      expect(((await answer.json()) as { status: string }).status, action).toBe("pending");
    }
  });

  it("an admin key below the top level manages nothing above its level", async () => {
    const lowAdmin = await createTestKey("admin", { maxLevel: 3 });
    const top = await createTestKey("approver", { maxLevel: 5 });
    expect(
      (await call(`/api/v1/admin/keys/${top.keyId}`, { method: "DELETE", headers: lowAdmin.headers })).status,
    ).toBe(403);
    expect(
      (await post("/api/v1/admin/keys", lowAdmin, { principal_id: "x", role: "approver", max_level: 4 }))
        .status,
    ).toBe(403);
    expect(
      (
        await post("/api/v1/admin/policies/approval-levels", lowAdmin, {
          policy_type: "rate_limit",
          tenant_id: "acme",
          approval_level: "owner_override",
        })
      ).status,
    ).toBe(403);
  });
});

describe("security matrix: every refusal is logged and counted", () => {
  it("a 403 from any layer (here tenant scope) writes auth_forbidden with the key id and counts it", async () => {
    const outsider = await createTestKey("agent", { tenantId: "globex" });
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const metrics = recordingDataset();
    try {
      const res = await call(
        "/api/v1/policy/eval",
        {
          method: "POST",
          headers: { ...outsider.headers, "Content-Type": "application/json" },
          body: JSON.stringify({ skill_id: "a.b", tenant_id: "acme" }),
        },
        { METRICS: metrics, LOG_LEVEL: "info" },
      );
      expect(res.status).toBe(403);
    } finally {
      spy.mockRestore();
    }
    const refusal = lines.find((line) => line.includes('"msg":"auth_forbidden"'));
    expect(refusal).toContain(outsider.keyId);
    expect(refusal).toContain("may not act for tenant acme");
    expect(refusal).not.toContain(outsider.token);
    expect(metrics.totals()["nova_auth_failures_total{reason=forbidden}"]).toBe(1);
  });
});

describe("request log lines", () => {
  it("name the route, status, duration and who asked (key id, principal, tenant), never the key", async () => {
    const scoped = await createTestKey("agent", { principalId: "log-bot", tenantId: "acme" });
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      const res = await call(
        "/api/v1/policy/requests/apr_0123456789abcdef?wait=0",
        { headers: scoped.headers },
        { LOG_LEVEL: "info" },
      );
      expect(res.status).toBe(404);
    } finally {
      spy.mockRestore();
    }
    const line = lines
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((entry) => entry.msg === "request");
    expect(line).toMatchObject({
      method: "GET",
      path: "/api/v1/policy/requests/apr_0123456789abcdef",
      route: "/api/v1/policy/requests/:request_id",
      status: 404,
      key_id: scoped.keyId,
      principal_id: "log-bot",
      tenant_id: "acme",
    });
    expect(typeof line?.duration_ms).toBe("number");
    expect(lines.join("\n")).not.toContain(scoped.token);
  });
});
