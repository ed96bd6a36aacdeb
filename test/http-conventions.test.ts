import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { createRoute, z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app.ts";
import { ApiError } from "../src/lib/errors.ts";
import { MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_URL_BYTES } from "../src/middleware/bounds.ts";
import { testEnv } from "./helpers/database.ts";
import { BASE_URL, call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey } from "./helpers/keys.ts";

// The real app (middleware, validation hook, error handler) with probe routes that exercise the
// conventions every resource route relies on.
const probeApp = createApp();
probeApp.openapi(
  createRoute({
    method: "post",
    path: "/probe/{id}",
    request: {
      params: z.object({ id: z.string().regex(/^[a-z]+$/) }),
      query: z.object({ limit: z.coerce.number().int().min(1).max(10).optional() }),
      body: {
        required: true,
        content: {
          "application/json": { schema: z.object({ skill_id: z.string().min(1), amount: z.number().int() }) },
        },
      },
    },
    responses: { 200: { description: "ok" } },
  }),
  (c) => c.json({ ok: true, id: c.req.valid("param").id, body: c.req.valid("json") }, 200),
);
probeApp.get("/probe-fail/:kind", (c) => {
  const kind = c.req.param("kind");
  if (kind === "api") throw new ApiError("conflict", "Already decided", { status: "approved" });
  if (kind === "database") throw new Error("Error connecting to database: fetch failed");
  throw new Error("secret internals: SELECT * FROM approval_requests WHERE token = 'abc'");
});

async function probe(path: string, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const res = await probeApp.fetch(new Request(`${BASE_URL}${path}`, init), testEnv(), ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const jsonPost = (body: string) => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body,
});

async function envelope(res: Response): Promise<ErrorEnvelope> {
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as ErrorEnvelope;
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error.request_id).toBe(res.headers.get("x-request-id"));
  return body;
}

describe("HTTP conventions", () => {
  it("generates an X-Request-Id when the caller sends none", async () => {
    const res = await call("/health");
    expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
  });

  it("propagates a caller's well-formed X-Request-Id", async () => {
    const res = await call("/health", { headers: { "X-Request-Id": "trace-abc_123" } });
    expect(res.headers.get("x-request-id")).toBe("trace-abc_123");
  });

  it("replaces a malformed or oversized X-Request-Id instead of echoing it", async () => {
    for (const bad of ["has spaces and <html>", "x".repeat(200)]) {
      const res = await call("/health", { headers: { "X-Request-Id": bad } });
      expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    }
  });

  it("answers unknown routes with a 404 envelope", async () => {
    const res = await call("/nothing-here");
    expect(res.status).toBe(404);
    const body = await envelope(res);
    expect(body.error).toMatchObject({ code: "not_found", message: "No route for GET /nothing-here" });
  });

  it("reveals which /api routes exist only to callers with a valid key", async () => {
    expect((await call("/api/v1/nothing-here")).status).toBe(401);
    const admin = await createTestKey("admin");
    const res = await call("/api/v1/nothing-here", { headers: admin.headers });
    expect(res.status).toBe(404);
    expect((await envelope(res)).error.code).toBe("not_found");
  });

  it("answers a wrong method on a known path with a 404 envelope", async () => {
    const res = await postJson("/health", {});
    expect(res.status).toBe(404);
    expect((await envelope(res)).error.code).toBe("not_found");
  });

  it("rejects bodies over the size limit with 413, before reading them whole", async () => {
    const res = await call("/anything", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ blob: "x".repeat(MAX_BODY_BYTES) }),
    });
    expect(res.status).toBe(413);
    expect((await envelope(res)).error.code).toBe("payload_too_large");
  });

  it("bounds the URL (414) and the request headers (431), with or without a key, in the envelope", async () => {
    const longQuery = await call(`/api/v1/policy/requests?tenant_id=${"a".repeat(MAX_URL_BYTES)}`);
    expect(longQuery.status).toBe(414);
    expect((await envelope(longQuery)).error.code).toBe("uri_too_long");
    const longPath = await call(`/api/v1/policy/requests/${"a".repeat(MAX_URL_BYTES)}`);
    expect(longPath.status).toBe(414);
    const headers: Record<string, string> = {};
    for (let i = 0; i < 20; i += 1) headers[`X-Filler-${i}`] = "y".repeat(1000);
    const bigHeaders = await call("/health", { headers });
    expect(bigHeaders.status).toBe(431);
    expect((await envelope(bigHeaders)).error.code).toBe("headers_too_large");
    // Just under both bounds: answered as usual.
    expect((await call(`/health?x=${"a".repeat(MAX_URL_BYTES - 100)}`)).status).toBe(200);
    expect(
      (await call("/health", { headers: { "X-Filler": "y".repeat(MAX_HEADER_BYTES - 200) } })).status,
    ).toBe(200);
  });

  it("rejects a body that is not JSON with 415", async () => {
    const res = await call("/anything", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: "hi",
    });
    expect(res.status).toBe(415);
    expect((await envelope(res)).error.code).toBe("unsupported_media_type");
  });

  it("accepts a valid body, path and query", async () => {
    const res = await probe("/probe/abc?limit=3", jsonPost(JSON.stringify({ skill_id: "s", amount: 2 })));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, id: "abc", body: { skill_id: "s", amount: 2 } });
  });

  it("rejects malformed JSON with 400 malformed_json", async () => {
    const res = await probe("/probe/abc", jsonPost('{"skill_id": '));
    expect(res.status).toBe(400);
    expect((await envelope(res)).error).toMatchObject({ code: "malformed_json" });
  });

  it("reports every invalid body field with its path", async () => {
    const res = await probe("/probe/abc", jsonPost(JSON.stringify({ skill_id: "", amount: "7" })));
    expect(res.status).toBe(400);
    const { error } = await envelope(res);
    expect(error.code).toBe("validation_failed");
    expect(error.message).toBe("Invalid request body");
    const details = error.details as { target: string; issues: { path: string; code: string }[] };
    expect(details.target).toBe("json");
    expect(details.issues.map((issue) => issue.path).sort()).toEqual(["amount", "skill_id"]);
  });

  it("validates path parameters and query strings into the same envelope", async () => {
    const badPath = await probe("/probe/ABC", jsonPost(JSON.stringify({ skill_id: "s", amount: 1 })));
    expect(badPath.status).toBe(400);
    expect(((await envelope(badPath)).error.details as { target: string }).target).toBe("param");

    const badQuery = await probe(
      "/probe/abc?limit=99",
      jsonPost(JSON.stringify({ skill_id: "s", amount: 1 })),
    );
    expect(badQuery.status).toBe(400);
    const { error } = await envelope(badQuery);
    expect(error.message).toBe("Invalid request query");
    expect((error.details as { issues: { path: string }[] }).issues[0]?.path).toBe("limit");
  });

  it("rejects a JSON array where an object is expected", async () => {
    const res = await probe("/probe/abc", jsonPost("[1,2]"));
    expect(res.status).toBe(400);
    expect((await envelope(res)).error.code).toBe("validation_failed");
  });

  it("maps an ApiError to its status with details", async () => {
    const res = await probe("/probe-fail/api");
    expect(res.status).toBe(409);
    expect((await envelope(res)).error).toMatchObject({ code: "conflict", details: { status: "approved" } });
  });

  it("answers 503 database_unavailable with Retry-After when the database is away", async () => {
    const res = await probe("/probe-fail/database");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect((await envelope(res)).error.code).toBe("database_unavailable");
  });

  it("hides unexpected errors behind a 500 that names only the request id", async () => {
    const res = await probe("/probe-fail/bug");
    expect(res.status).toBe(500);
    const text = await res.clone().text();
    expect(text).not.toMatch(/SELECT|secret|stack|at /);
    expect((await envelope(res)).error.code).toBe("internal_error");
  });
});
