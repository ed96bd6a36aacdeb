import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { createDb } from "../src/db/client.ts";
import { apiKeys } from "../src/db/schema.ts";
import { generateApiKey, parseApiKey } from "../src/domain/api-keys.ts";
import { testEnv } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, TEST_ADMIN_API_KEY, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";

const LIST_KEYS = "/api/v1/admin/keys";

let admin: TestKey;
beforeAll(async () => {
  admin = await createTestKey("admin");
});

async function expectUnauthorized(res: Response, message: RegExp) {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="policy-api"/);
  const body = (await res.json()) as ErrorEnvelope;
  expect(body.error.code).toBe("unauthorized");
  expect(body.error.message).toMatch(message);
  return body;
}

describe("authentication", () => {
  it("accepts a valid key", async () => {
    const res = await call(LIST_KEYS, { headers: admin.headers });
    expect(res.status).toBe(200);
  });

  it("401s without a key, with a Bearer challenge", async () => {
    await expectUnauthorized(await call(LIST_KEYS), /Send an API key/);
  });

  it("401s on a malformed header or key", async () => {
    for (const header of [
      "Basic dXNlcjpwYXNz",
      "Bearer",
      "Bearer not-a-key",
      `Bearer ${admin.token}x`,
      admin.token,
    ]) {
      await expectUnauthorized(await call(LIST_KEYS, { headers: { Authorization: header } }), /well-formed/);
    }
  });

  it("401s on a well-formed key that does not exist, and on a right id with a wrong secret", async () => {
    const stranger = await generateApiKey();
    await expectUnauthorized(
      await call(LIST_KEYS, { headers: { Authorization: `Bearer ${stranger.token}` } }),
      /^Invalid API key$/,
    );
    const forged = `pak_${admin.keyId}_${stranger.secret}`;
    await expectUnauthorized(
      await call(LIST_KEYS, { headers: { Authorization: `Bearer ${forged}` } }),
      /^Invalid/,
    );
  });

  it("401s on a revoked key", async () => {
    const revoked = await createTestKey("admin", { revoked: true });
    await expectUnauthorized(await call(LIST_KEYS, { headers: revoked.headers }), /revoked/);
  });

  it("accepts the ADMIN_API_KEY secret as a global admin, compared exactly", async () => {
    const env = { ADMIN_API_KEY: TEST_ADMIN_API_KEY };
    const ok = await call(LIST_KEYS, { headers: { Authorization: `Bearer ${TEST_ADMIN_API_KEY}` } }, env);
    expect(ok.status).toBe(200);
    const wrong = await call(LIST_KEYS, { headers: { Authorization: `Bearer ${TEST_ADMIN_API_KEY}0` } }, env);
    await expectUnauthorized(wrong, /well-formed/);
  });

  it("ignores an ADMIN_API_KEY too short to be safe", async () => {
    const res = await call(
      LIST_KEYS,
      { headers: { Authorization: "Bearer short-admin-key" } },
      {
        ADMIN_API_KEY: "short-admin-key",
      },
    );
    expect(res.status).toBe(401);
  });

  it("records last_used_at on use", async () => {
    const key = await createTestKey("admin");
    await call(LIST_KEYS, { headers: key.headers });
    const [row] = await createDb(testEnv()).select().from(apiKeys).where(eq(apiKeys.id, key.keyId));
    expect(row?.lastUsedAt).toBeInstanceOf(Date);
  });

  it("never writes the key to logs, and logs and counts each failure with its reason", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const metrics = recordingDataset();
    const revoked = await createTestKey("admin", { revoked: true });
    try {
      await call(LIST_KEYS, { headers: admin.headers }, { LOG_LEVEL: "debug", METRICS: metrics });
      await call(LIST_KEYS, { headers: revoked.headers }, { LOG_LEVEL: "debug", METRICS: metrics });
      await call(LIST_KEYS, {}, { LOG_LEVEL: "debug", METRICS: metrics });
    } finally {
      spy.mockRestore();
    }
    const text = lines.join("\n");
    expect(text).not.toContain(admin.token);
    expect(text).not.toContain(revoked.token);
    expect(text).not.toContain(parseApiKey(admin.token)?.secret);
    const failures = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === "auth_failed");
    expect(failures.map((entry) => entry.reason)).toEqual(["revoked", "missing"]);
    expect(failures[0]?.key_id).toBe(revoked.keyId);
    expect(metrics.totals()).toMatchObject({
      "nova_auth_failures_total{reason=revoked}": 1,
      "nova_auth_failures_total{reason=missing}": 1,
    });
  });

  it("answers 503, not 401 or 500, when the database holding the keys is away", async () => {
    const stranger = await generateApiKey();
    const res = await call(
      LIST_KEYS,
      { headers: { Authorization: `Bearer ${stranger.token}` } },
      {
        DATABASE_URL: "postgresql://postgres:postgres@127.0.0.1:1/policy",
      },
    );
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe("database_unavailable");
  });
});
