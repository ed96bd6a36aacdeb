// The operator key commands (scripts/lib/keys.ts, scripts/keys.ts) against a real migrated database.
import { spawnSync } from "node:child_process";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKey, listKeys, revokeKey, usableKey } from "../../scripts/lib/keys.ts";
import { migrateUp } from "../../scripts/lib/migrations.ts";
import { parseApiKey } from "../../src/domain/api-keys.ts";
import { scratchDatabase } from "./scratch-database.ts";

const scratch = scratchDatabase("keys");
const url = scratch.url;

beforeAll(async () => {
  await scratch.create();
  await migrateUp(url);
});

afterAll(() => scratch.drop());

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
    expect(await usableKey(url, created.api_key)).toMatchObject({ key_id: created.key_id });

    const listed = await listKeys(url);
    expect(listed.map((key) => key.key_id)).toContain(created.key_id);
    expect(JSON.stringify(listed)).not.toContain(parseApiKey(created.api_key)?.secret);

    const revoked = await revokeKey(url, created.key_id);
    expect(revoked?.revoked_at).not.toBeNull();
    expect(await usableKey(url, created.api_key)).toBeUndefined();
    expect(await revokeKey(url, "0123456789abcdef")).toBeUndefined();

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query("SELECT action FROM audit_events WHERE target_id = $1 ORDER BY id", [
      created.key_id,
    ]);
    await client.end();
    expect(rows.map((row) => row.action)).toEqual(["api_key.create", "api_key.revoke"]);
  });

  it("npm run keys refuses a principal, tenant or agent that is not canonical, like the API", async () => {
    const script = path.resolve(import.meta.dirname, "../../scripts/keys.ts");
    const cases: [string[], string][] = [
      [
        ["--principal", "Alice", "--role", "approver", "--level", "3"],
        '--principal: must be written in its one spelling (lower case, no surrounding spaces): send "alice"',
      ],
      [
        ["--principal", "bot", "--role", "agent", "--tenant", "Demo"],
        '--tenant: must be written in its one spelling (lower case, no surrounding spaces): send "demo"',
      ],
      [
        ["--principal", "bot", "--role", "agent", "--tenant", "ｄｅｍｏ"],
        "--tenant: must be written in its one spelling",
      ],
      [
        ["--principal", "bot", "--role", "agent", "--agents", "Billing-*"],
        "--agents: a non-empty list of agent ids in lower case",
      ],
    ];
    for (const [args, message] of cases) {
      const child = spawnSync(process.execPath, [script, "create", ...args], {
        encoding: "utf8",
        env: { ...process.env, DATABASE_URL: url },
      });
      expect(child.status, child.stderr).toBe(2);
      expect(child.stderr).toContain(message);
    }
    expect(
      (await listKeys(url)).filter((key) => ["alice", "Alice", "bot"].includes(key.principal_id)),
    ).toEqual([]);
  });
});
