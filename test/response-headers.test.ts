// Headers every answer carries (src/middleware/security-headers.ts): X-Content-Type-Options: nosniff everywhere, and
// Cache-Control: no-store on everything under /api (answers carry keys, requests and decisions),
// errors included; /docs keeps its own caching.
import { beforeAll, describe, expect, it } from "vitest";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

let admin: TestKey;
let agent: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  agent = await createTestKey("agent");
});

function expectNoStore(res: Response) {
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
}

describe("response headers", () => {
  it("a created key (201, the secret shown once) is no-store and nosniff", async () => {
    const res = await postJson("/api/v1/admin/keys", { principal_id: "bot-h", role: "agent" }, admin.headers);
    expect(res.status).toBe(201);
    expect(((await res.json()) as { api_key: string }).api_key).toMatch(/^pak_/);
    expectNoStore(res);
  });

  it("successful reads and decisions under /api are no-store", async () => {
    const evaluated = await postJson(
      "/api/v1/policy/eval",
      { skill_id: "email.send", tenant_id: "acme", payload: {} },
      agent.headers,
    );
    expect(evaluated.status).toBe(200);
    expectNoStore(evaluated);
    const filed = await postJson(
      "/api/v1/policy/requests",
      { policy_type: "cost", skill_id: "email.send", tenant_id: "acme", requested_by: "agent-7" },
      agent.headers,
    );
    expect(filed.status).toBe(200);
    expectNoStore(filed);
    const { request_id } = (await filed.json()) as { request_id: string };
    for (const path of [
      `/api/v1/policy/requests/${request_id}`,
      "/api/v1/policy/requests?tenant_id=acme",
      "/api/v1/admin/keys",
      "/api/v1/admin/policies/settings",
    ]) {
      const res = await call(path, { headers: admin.headers });
      expect(res.status, path).toBe(200);
      expectNoStore(res);
    }
  });

  it("errors under /api, before and after authentication, are no-store", async () => {
    const cases: [string, RequestInit, number][] = [
      ["/api/v1/admin/keys", {}, 401],
      ["/api/v1/admin/keys", { headers: agent.headers }, 403],
      ["/api/v1/nope", { headers: admin.headers }, 404],
      [
        "/api/v1/policy/eval",
        { method: "POST", headers: { ...admin.headers, "Content-Type": "application/json" }, body: "{" },
        400,
      ],
      [
        "/api/v1/policy/eval",
        { method: "POST", headers: { ...admin.headers, "Content-Type": "text/plain" }, body: "x" },
        415,
      ],
    ];
    for (const [path, init, status] of cases) {
      const res = await call(path, init);
      expect(res.status, path).toBe(status);
      expectNoStore(res);
    }
  });

  it("every answer outside /api is nosniff; /docs keeps its own caching", async () => {
    for (const path of ["/health", "/openapi.json", "/nothing-here"]) {
      const res = await call(path);
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
    }
    const docs = await call("/docs");
    expect(docs.headers.get("x-content-type-options")).toBe("nosniff");
    expect(docs.headers.get("cache-control")).toBe("public, max-age=300");
    // The static assets' headers (public/_headers) are checked under wrangler dev:
    // test/node/static-assets.test.ts.
  });
});
