// The operator key commands (scripts/lib/keys.ts, and scripts/keys.ts as `npm run keys` runs it) against
// a real migrated database.
import { spawnSync } from "node:child_process";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKey, listKeys, revokeKey, usableKey } from "../../scripts/lib/keys.ts";
import { migrateUp } from "../../scripts/lib/migrations.ts";
import { parseApiKey } from "../../src/domain/api-keys.ts";
import { BAD_KEY_INPUTS, GOOD_KEY_INPUTS, KEY_FLAGS, keyInputArgs } from "../fixtures/new-key-inputs.ts";
import { scratchDatabase } from "./scratch-database.ts";

const KEYS_SCRIPT = path.resolve(import.meta.dirname, "../../scripts/keys.ts");

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

  it("npm run keys folds the principal, tenant and agents like the API, and refuses what cannot fold", async () => {
    const script = path.resolve(import.meta.dirname, "../../scripts/keys.ts");
    const run = (args: string[]) =>
      spawnSync(process.execPath, [script, "create", ...args], {
        encoding: "utf8",
        env: { ...process.env, DATABASE_URL: url },
      });
    const suffix = crypto.randomUUID().slice(0, 6);
    const made = run([
      "--principal",
      `Gateway-${suffix}`,
      "--role",
      "agent",
      "--tenant",
      `ＤＥＭＯ-${suffix}`,
      "--agents",
      "Billing-*, BOT-1",
    ]);
    expect(made.status, made.stderr).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({
      principal_id: `gateway-${suffix}`,
      tenant_id: `demo-${suffix}`,
      agent_ids: ["billing-*", "bot-1"],
    });
    const cases: [string[], string][] = [
      [["--principal", "al ice", "--role", "approver", "--level", "3"], "--principal: use letters, digits"],
      [["--principal", "bot", "--role", "agent", "--tenant", "demo tenant"], "--tenant: use letters, digits"],
      [
        ["--principal", "bot", "--role", "agent", "--agents", "bill\u200bing-*"],
        "--agents: a non-empty list of agent ids",
      ],
    ];
    for (const [args, message] of cases) {
      const child = run(args);
      expect(child.status, child.stderr).toBe(2);
      expect(child.stderr).toContain(message);
    }
    expect((await listKeys(url)).filter((key) => ["al ice", "bot"].includes(key.principal_id))).toEqual([]);
  });
});

// Issue 23 finding 6: the same table of inputs the API and the console are given
// (test/key-inputs.test.ts), through `npm run keys`: a bad row exits non-zero naming its flag and
// writes nothing; a good row is created as asked.
describe("npm run keys -- create, on the shared table of new-key inputs", () => {
  function runKeys(args: string[]) {
    return spawnSync(process.execPath, [KEYS_SCRIPT, ...args], {
      encoding: "utf8",
      env: { ...process.env, DATABASE_URL: url },
      timeout: 30_000,
    });
  }

  async function keyCount(): Promise<number> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return Number((await client.query("SELECT count(*) AS n FROM api_keys")).rows[0].n);
    } finally {
      await client.end();
    }
  }

  it.each(BAD_KEY_INPUTS)("refuses $label naming its flag, and writes nothing", async ({ input, field }) => {
    const before = await keyCount();
    const child = runKeys(keyInputArgs(input));
    expect(child.status, child.stdout).not.toBe(0);
    expect(child.stderr).toContain(`${KEY_FLAGS[field]}: `);
    expect(child.stdout).not.toContain("pak_");
    expect(await keyCount()).toBe(before);
  });

  it.each(GOOD_KEY_INPUTS)("creates $label", ({ input, expect: want }) => {
    const child = runKeys(keyInputArgs(input));
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toMatchObject({ principal_id: input.principal_id, ...want });
  });
});
