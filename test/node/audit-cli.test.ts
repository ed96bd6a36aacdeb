// npm run audit (scripts/audit.ts, scripts/lib/audit.ts) against a real migrated database: the 0014
// backfill chains records older than the migration, `verify --database` walks the chains in batches
// and names the first broken link, and an export verifies offline with no database.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAudit } from "../../scripts/lib/audit.ts";
import { createKey, revokeKey } from "../../scripts/lib/keys.ts";
import { migrateUp, rollbackLast } from "../../scripts/lib/migrations.ts";
import { importSigningKey, publishedKey, signCheckpoint } from "../../src/domain/audit-checkpoint.ts";
import { scratchDatabase } from "./scratch-database.ts";

const scratch = scratchDatabase("audit");
const url = scratch.url;
const SCRIPT = path.resolve(import.meta.dirname, "../../scripts/audit.ts");
const run = promisify(execFile);

async function query<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** runAudit with its output captured. */
async function audit(args: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(args, {
    database: async () => ({ url, close: async () => {} }),
    write: async (text, stream = "stdout") => {
      if (stream === "stdout") stdout += text;
      else stderr += text;
    },
  });
  return { code, stdout, stderr };
}

/** The real script in a child process (exit code and all); `env` adds to the environment. */
async function script(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [SCRIPT, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const dir = mkdtempSync(path.join(tmpdir(), "audit-cli-"));

beforeAll(async () => {
  await scratch.create();
  await migrateUp(url);
});

afterAll(() => scratch.drop());

describe("npm run audit", () => {
  it("chains what existed before migration 0014, then verifies the database in bounded batches", async () => {
    // A database as it was before the chain: audit records and a request written without triggers.
    // Every migration since the chain's is rolled back first (0015 onwards), then the chain's own.
    const rolledBack: string[] = [];
    while (rolledBack.at(-1) !== "0014_audit_chain") {
      const name = await rollbackLast(url);
      expect(name, "0014_audit_chain is applied").toBeDefined();
      rolledBack.push(String(name));
    }
    expect(rolledBack.slice(-2)).toEqual(["0015_audit_checkpoints", "0014_audit_chain"]);
    const old = await createKey(url, { principalId: "ops", role: "approver", maxLevel: 3, tenantId: "acme" });
    await revokeKey(url, old.key_id);
    await query(
      `INSERT INTO approval_requests (id, correlation_id, policy_type, skill_id, tenant_id, payload, payload_hash,
         requested_by, required_level, expires_at, status_history_json)
       VALUES ('apr_00000000000000a1', 'c-a1', 'cost', 'email.send', 'acme', '{}', 'h', 'bot', 3, now(),
               '[{"from_status": null, "to_status": "pending", "actor": "bot", "reason": null, "timestamp": "t"}]')`,
    );
    expect(await migrateUp(url)).toEqual(rolledBack.toReversed());
    const backfilled = await query<{ kind: string; seq: string }>(
      "SELECT kind, seq FROM audit_chain WHERE chain_id = 'acme' ORDER BY seq",
    );
    expect(backfilled.map((row) => row.kind)).toEqual([
      "audit_event",
      "audit_event",
      "approval_request.backfilled",
    ]);

    // And records written since, by the triggers.
    await createKey(url, { principalId: "ops2", role: "approver", maxLevel: 3, tenantId: "acme" });
    await createKey(url, { principalId: "ops3", role: "admin", maxLevel: 5 });

    const clean = await audit(["verify", "--database", "--batch", "2"]);
    expect(clean.stderr).toBe("");
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('chain "acme": 4 records, head seq 4 ok');
    expect(clean.stdout).toContain('chain "*": 1 records');
    expect(clean.stdout).toContain("audit chain verifies");
  });

  it("exports NDJSON that verifies offline, and names the record edited in the file", async () => {
    const exported = await audit(["export", "--database", "--batch", "3"]);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split("\n");
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ type: "export", version: 1, chains: null });
    expect(lines.slice(1).every((line) => JSON.parse(line).type === "record")).toBe(true);
    const file = path.join(dir, "export.ndjson");
    writeFileSync(file, exported.stdout);

    // The real script, with no database reachable at all.
    const offline = await script(["verify", file], { DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none" });
    expect(offline.code).toBe(0);
    expect(offline.stdout).toContain("audit chain verifies");

    const tampered = readFileSync(file, "utf8")
      .split("\n")
      .map((line) => {
        if (!line.includes('"chain_id":"acme"') || !line.includes('"seq":2,')) return line;
        const record = JSON.parse(line);
        record.content = record.content.replace('"api_key.revoke"', '"api_key.create"');
        return JSON.stringify(record);
      })
      .join("\n");
    const edited = path.join(dir, "edited.ndjson");
    writeFileSync(edited, tampered);
    const broken = await script(["verify", edited]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('first broken link: chain "acme" seq 2 (hash_mismatch)');
    expect(broken.stderr).toContain("audit chain BROKEN");

    const tenantOnly = await audit(["export", "--database", "--tenant", "acme"]);
    const records = tenantOnly.stdout
      .trim()
      .split("\n")
      .slice(1)
      .map((line) => JSON.parse(line));
    expect(records.map((record) => [record.chain_id, record.seq])).toEqual([
      ["acme", 1],
      ["acme", 2],
      ["acme", 3],
      ["acme", 4],
    ]);
  });

  it("keygen prints a key pair; verify --public-key checks signed checkpoints in a file and in the database", async () => {
    const keygen = await audit(["keygen"]);
    expect(keygen.code).toBe(0);
    const secret = /AUDIT_SIGNING_KEY=(\S+)/.exec(keygen.stdout)?.[1] ?? "";
    const publicKey = /public_key=(\S+)/.exec(keygen.stdout)?.[1] ?? "";
    const signing = await importSigningKey(secret);
    expect(publishedKey(signing).public_key).toBe(publicKey);

    // Sign acme's head as the cron would, then export and verify with and without the key.
    const [head] = await query<{ seq: string; hash: string }>(
      "SELECT seq, hash FROM audit_chain WHERE chain_id = 'acme' ORDER BY seq DESC LIMIT 1",
    );
    const checkpoint = await signCheckpoint(
      signing,
      { chain_id: "acme", seq: Number(head?.seq), head_hash: head?.hash ?? "" },
      new Date(),
    );
    await query(
      `INSERT INTO audit_checkpoints (chain_id, seq, head_hash, signed_at, key_id, signature)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        checkpoint.chain_id,
        checkpoint.seq,
        checkpoint.head_hash,
        checkpoint.signed_at,
        checkpoint.key_id,
        checkpoint.signature,
      ],
    );
    const exported = await audit(["export", "--database", "--batch", "2"]);
    expect(exported.stdout).toContain('"type":"checkpoint"');
    const file = path.join(dir, "signed.ndjson");
    writeFileSync(file, exported.stdout);
    const checked = await script(["verify", file, "--public-key", publicKey]);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toContain(
      'chain "acme": 4 records, head seq 4 ok; 1 checkpoints, signed head at seq 4',
    );
    const unchecked = await script(["verify", file]);
    expect(unchecked.code).toBe(0);
    expect(unchecked.stdout).toContain("warning: checkpoints not checked");
    const other = (await audit(["keygen"])).stdout.match(/public_key=(\S+)/)?.[1] ?? "";
    const wrongKey = await script(["verify", file, "--public-key", other]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toContain("(checkpoint_unknown_key)");

    const live = await audit(["verify", "--database", "--batch", "2", "--public-key", publicKey]);
    expect(live.code).toBe(0);
    expect(live.stdout).toContain("1 checkpoints, signed head at seq 4");
  });

  it("exits 1 naming the record deleted from the database", async () => {
    await query("ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_append_only");
    await query("DELETE FROM audit_chain WHERE chain_id = 'acme' AND seq = 2");
    await query("ALTER TABLE audit_chain ENABLE TRIGGER audit_chain_append_only");
    const result = await script(["verify", "--database", "--batch", "2"], { DATABASE_URL: url });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('first broken link: chain "acme" seq 3 (seq_gap): seq 2 missing');
    expect(result.stdout).toMatch(/chain "\*": 1 records, head seq 1 ok/);
  });

  it("refuses bad usage with exit 2", async () => {
    expect((await audit(["verify"])).code).toBe(2);
    expect((await audit(["export"])).code).toBe(2);
    expect((await audit(["verify", "--database", "--batch", "0"])).code).toBe(2);
    expect((await audit(["frobnicate"])).code).toBe(2);
  });
});
