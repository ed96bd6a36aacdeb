import { describe, expect, inject, it } from "vitest";
import { HEALTH_DB_TIMEOUT_MS } from "../src/services/health.ts";
import { call } from "./helpers/http.ts";

interface Health {
  status: string;
  database: { ok: boolean; latency_ms: number; error?: string };
  version: string;
}

const deadDatabaseUrl = "postgresql://postgres:postgres@127.0.0.1:1/policy";

describe("GET /health", () => {
  it("answers 200 with the database ok, its latency and the version, without an API key", async () => {
    const res = await call("/health");
    expect(res.status).toBe(200);
    const body = (await res.json()) as Health;
    expect(body).toMatchObject({ status: "ok", database: { ok: true }, version: "0.1.0" });
    expect(body.database.latency_ms).toBeGreaterThanOrEqual(0);
    expect(body.database.error).toBeUndefined();
  });

  it("answers 503 degraded with a reason when the database is down", async () => {
    const res = await call("/health", {}, { DATABASE_URL: deadDatabaseUrl });
    expect(res.status).toBe(503);
    const body = (await res.json()) as Health;
    expect(body).toMatchObject({
      status: "degraded",
      database: { ok: false, error: "database unreachable" },
    });
    // The reason names no host, port or credentials.
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|postgres:/);
  });

  it("answers 503 within its timeout when the database accepts connections but never answers", async () => {
    const hung = `postgresql://postgres:postgres@127.0.0.1:${inject("blackHolePort")}/policy`;
    const started = Date.now();
    const res = await call("/health", {}, { DATABASE_URL: hung });
    expect(res.status).toBe(503);
    const body = (await res.json()) as Health;
    expect(body.database.error).toBe(`database did not answer within ${HEALTH_DB_TIMEOUT_MS} ms`);
    expect(Date.now() - started).toBeLessThan(HEALTH_DB_TIMEOUT_MS * 3);
  });

  it("answers 503 when the configured database does not exist", async () => {
    const missing = new URL(inject("adminDatabaseUrl"));
    missing.pathname = "/policy_missing";
    const res = await call("/health", {}, { DATABASE_URL: missing.toString() });
    expect(res.status).toBe(503);
    expect(((await res.json()) as Health).database.ok).toBe(false);
  });

  it("answers 503 naming the missing setting when no database is configured", async () => {
    const res = await call("/health", {}, { DATABASE_URL: "" });
    expect(res.status).toBe(503);
    expect(((await res.json()) as Health).database.error).toBe(
      "database not configured: DATABASE_URL is not set",
    );
  });

  it("still serves the API docs without a database", async () => {
    expect((await call("/openapi.json", {}, { DATABASE_URL: "" })).status).toBe(200);
  });
});

describe("GET /health/live", () => {
  it("answers without a key and without touching the database, even when there is none", async () => {
    const res = await call("/health/live", {}, { DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", version: expect.any(String) });
  });
});
