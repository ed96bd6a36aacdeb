// The operator key commands (scripts/lib/keys.ts) against a real migrated database.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createKey, keyIsUsable, listKeys, revokeKey } from "../../scripts/lib/keys.ts";
import { ensureDatabase } from "../../scripts/lib/local-stack.ts";
import { migrateUp } from "../../scripts/lib/migrations.ts";

const database = `keys_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
const adminUrl = inject("adminDatabaseUrl");
const url = adminUrl.replace(/\/postgres$/, `/${database}`);

beforeAll(async () => {
  await ensureDatabase(adminUrl, database);
  await migrateUp(url);
});

afterAll(async () => {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.end();
});

describe("operator key commands", () => {
  it("creates a usable key with an audit event, lists it without secrets, and revokes it", async () => {
    const created = await createKey(url, {
      principalId: "ops",
      role: "approver",
      maxLevel: 4,
      tenantId: "acme",
    });
    expect(created).toMatchObject({ principal_id: "ops", role: "approver", max_level: 4, tenant_id: "acme" });
    expect(created.created_by).toMatch(/^cli:/);
    expect(await keyIsUsable(url, created.api_key)).toBe(true);

    const listed = await listKeys(url);
    expect(listed.map((key) => key.key_id)).toContain(created.key_id);
    expect(JSON.stringify(listed)).not.toContain(created.api_key.split("_")[2]);

    const revoked = await revokeKey(url, created.key_id);
    expect(revoked?.revoked_at).not.toBeNull();
    expect(await keyIsUsable(url, created.api_key)).toBe(false);
    expect(await revokeKey(url, "0123456789abcdef")).toBeUndefined();

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query("SELECT action FROM audit_events WHERE target_id = $1 ORDER BY id", [
      created.key_id,
    ]);
    await client.end();
    expect(rows.map((row) => row.action)).toEqual(["api_key.create", "api_key.revoke"]);
  });
});
