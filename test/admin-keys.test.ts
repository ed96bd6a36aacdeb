import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../src/db/client.ts";
import { auditEvents } from "../src/db/schema.ts";
import { parseApiKey } from "../src/domain/api-keys.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";

const KEYS = "/api/v1/admin/keys";

interface KeySummary {
  key_id: string;
  principal_id: string;
  role: string;
  max_level: number;
  max_level_name: string;
  tenant_id: string | null;
  created_by: string;
  revoked_at: string | null;
  revoked_by: string | null;
  api_key?: string;
}

let admin: TestKey;
beforeAll(async () => {
  admin = await createTestKey("admin", { principalId: "ops-alice" });
});

describe("admin key management", () => {
  it("creates a key, shows its secret once, and the new key works", async () => {
    const res = await postJson(
      KEYS,
      {
        principal_id: "carol",
        role: "approver",
        max_level: "manual_approve",
        tenant_id: "acme",
        name: "carol's key",
      },
      admin.headers,
    );
    expect(res.status).toBe(201);
    const created = (await res.json()) as KeySummary;
    expect(created).toMatchObject({
      principal_id: "carol",
      role: "approver",
      max_level: 4,
      max_level_name: "manual_approve",
      tenant_id: "acme",
      created_by: "ops-alice",
      revoked_at: null,
    });
    expect(created.api_key).toMatch(new RegExp(`^pak_${created.key_id}_[A-Za-z0-9_-]{43}$`));

    // The secret is never shown again, and no hash is ever returned.
    const read = await call(`${KEYS}/${created.key_id}`, { headers: admin.headers });
    const text = await read.text();
    expect(text).not.toContain(parseApiKey(created.api_key ?? "")?.secret);
    expect(text).not.toMatch(/hash/i);
    expect(JSON.parse(text)).not.toHaveProperty("api_key");

    // The stored form is a SHA-256 digest, not the key.
    const [stored] = (await testSql()`SELECT secret_hash FROM api_keys WHERE id = ${created.key_id}`) as {
      secret_hash: string;
    }[];
    expect(stored?.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored?.secret_hash).not.toContain(parseApiKey(created.api_key ?? "")?.secret);

    // The approver key authenticates (and is refused key management: wrong role).
    const asCarol = await call(KEYS, { headers: { Authorization: `Bearer ${created.api_key}` } });
    expect(asCarol.status).toBe(403);
  });

  it("writes an audit event for each creation and revocation", async () => {
    const created = (await (
      await postJson(KEYS, { principal_id: "bot-1", role: "agent" }, admin.headers)
    ).json()) as KeySummary;
    await call(`${KEYS}/${created.key_id}`, { method: "DELETE", headers: admin.headers });
    await call(`${KEYS}/${created.key_id}`, { method: "DELETE", headers: admin.headers });
    const events = await createDb(testEnv())
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.targetId, created.key_id))
      .orderBy(auditEvents.id);
    expect(events.map((event) => [event.action, event.actor, event.actorKeyId])).toEqual([
      ["api_key.create", "ops-alice", admin.keyId],
      ["api_key.revoke", "ops-alice", admin.keyId],
    ]);
    expect(JSON.stringify(events)).not.toMatch(/pak_|secret/);
  });

  it("applies defaults: agents at level 1, admins at 5", async () => {
    const agent = (await (
      await postJson(KEYS, { principal_id: "a1", role: "agent" }, admin.headers)
    ).json()) as KeySummary;
    expect(agent.max_level).toBe(1);
    const other = (await (
      await postJson(KEYS, { principal_id: "root2", role: "admin" }, admin.headers)
    ).json()) as KeySummary;
    expect(other.max_level).toBe(5);
  });

  it("rejects bad input with per-field details", async () => {
    const cases: [unknown, string][] = [
      [{ role: "agent" }, "principal_id"],
      [{ principal_id: "x", role: "superuser" }, "role"],
      [{ principal_id: "x", role: "approver" }, "max_level"],
      [{ principal_id: "x", role: "approver", max_level: 9 }, "max_level"],
      [{ principal_id: "x", role: "approver", max_level: "supreme" }, "max_level"],
      [{ principal_id: "x", role: "admin", tenant_id: "acme" }, "tenant_id"],
      [{ principal_id: "has spaces", role: "agent" }, "principal_id"],
      [{ principal_id: "x", role: "agent", secret_hash: "0".repeat(64) }, ""],
    ];
    for (const [body, path] of cases) {
      const res = await postJson(KEYS, body, admin.headers);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const { error } = (await res.json()) as ErrorEnvelope;
      expect(error.code).toBe("validation_failed");
      const issues = (error.details as { issues: { path: string }[] }).issues;
      expect(
        issues.map((issue) => issue.path),
        JSON.stringify(body),
      ).toContain(path);
    }
  });

  it("will not create a key above the creator's own level", async () => {
    const limitedAdmin = await createTestKey("admin", { maxLevel: 3 });
    const res = await postJson(
      KEYS,
      { principal_id: "x", role: "approver", max_level: 4 },
      limitedAdmin.headers,
    );
    expect(res.status).toBe(403);
  });

  it("lists keys newest first with filters, hiding revoked ones unless asked", async () => {
    const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
    const first = await createTestKey("agent", { tenantId: tenant });
    const second = await createTestKey("approver", { tenantId: tenant });
    const gone = await createTestKey("agent", { tenantId: tenant, revoked: true });
    const list = async (query: string) =>
      (
        (await (
          await call(`${KEYS}?tenant_id=${tenant}${query}`, { headers: admin.headers })
        ).json()) as KeySummary[]
      ).map((key) => key.key_id);
    expect(await list("")).toEqual([second.keyId, first.keyId]);
    expect(await list("&role=agent")).toEqual([first.keyId]);
    expect(await list("&include_revoked=true")).toEqual([gone.keyId, second.keyId, first.keyId]);
    expect(await list("&limit=1&offset=1")).toEqual([first.keyId]);
    const bad = await call(`${KEYS}?limit=0`, { headers: admin.headers });
    expect(bad.status).toBe(400);
  });

  it("revokes idempotently; the revoked key stops working at once; unknown ids are 404", async () => {
    const victim = await createTestKey("admin");
    expect((await call(KEYS, { headers: victim.headers })).status).toBe(200);
    const first = await call(`${KEYS}/${victim.keyId}`, { method: "DELETE", headers: admin.headers });
    expect(first.status).toBe(200);
    const revoked = (await first.json()) as KeySummary;
    expect(revoked).toMatchObject({ revoked_by: "ops-alice" });
    expect(revoked.revoked_at).not.toBeNull();
    const again = (await (
      await call(`${KEYS}/${victim.keyId}`, { method: "DELETE", headers: admin.headers })
    ).json()) as KeySummary;
    expect(again.revoked_at).toBe(revoked.revoked_at);
    expect((await call(KEYS, { headers: victim.headers })).status).toBe(401);

    expect(
      (await call(`${KEYS}/0123456789abcdef`, { method: "DELETE", headers: admin.headers })).status,
    ).toBe(404);
    expect((await call(`${KEYS}/0123456789abcdef`, { headers: admin.headers })).status).toBe(404);
    expect((await call(`${KEYS}/not-an-id`, { headers: admin.headers })).status).toBe(400);
  });

  it("settles concurrent revocations of one key into one revocation and one audit event", async () => {
    const victim = await createTestKey("agent");
    // Six admins at once: one key would also meet key management's per-key rate limit (30 a minute)
    // after this file's earlier calls.
    const admins = await Promise.all(Array.from({ length: 6 }, () => createTestKey("admin")));
    const results = await Promise.all(
      admins.map((revoker) =>
        call(`${KEYS}/${victim.keyId}`, { method: "DELETE", headers: revoker.headers }),
      ),
    );
    expect(results.map((res) => res.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const revokedAt = new Set(
      await Promise.all(results.map(async (res) => ((await res.json()) as KeySummary).revoked_at)),
    );
    expect(revokedAt.size).toBe(1);
    const events = await createDb(testEnv())
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.targetId, victim.keyId));
    expect(events.filter((event) => event.action === "api_key.revoke")).toHaveLength(1);
  });
});
