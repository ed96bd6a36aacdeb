// Signed checkpoints of the audit chain and its export (issue 17, migration 0015): the cron signs each
// chain whose head moved, the public key is published at the well-known route, the admin export
// streams NDJSON that the offline verifier checks against that key (whole, per tenant, a time slice),
// and cutting records off the end or forging a checkpoint through SQL is caught.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { type VerifyResult, verifyExportLines } from "../src/domain/audit-chain.ts";
import {
  type Checkpoint,
  checkpointSignatureValid,
  importVerifyingKey,
  type VerifyingKey,
} from "../src/domain/audit-checkpoint.ts";
import type { Bindings } from "../src/env.ts";
import worker from "../src/index.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, type ErrorEnvelope } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { approveRequest, fileRequest as fileRequestAs } from "./helpers/requests.ts";
import { TEST_AUDIT_PUBLIC_KEY } from "./setup/test-secrets.ts";

let admin: TestKey;
let agent: TestKey;
let approver: TestKey;
let key: VerifyingKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
  agent = await createTestKey("agent", { principalId: "bot-1" });
  approver = await createTestKey("approver", { principalId: "carol", maxLevel: 4 });
  key = await importVerifyingKey(TEST_AUDIT_PUBLIC_KEY);
});

const newTenant = () => `cp-${crypto.randomUUID().slice(0, 8)}`;

function fileRequest(tenant: string): Promise<string> {
  return fileRequestAs(agent, { tenant_id: tenant, payload: {} });
}

function approve(id: string): Promise<void> {
  return approveRequest(approver, id);
}

/** A tenant whose chain holds four records: two requests filed, each approved. */
async function tenantWithChain(): Promise<string> {
  const tenant = newTenant();
  const ids = [await fileRequest(tenant), await fileRequest(tenant)];
  for (const id of ids) await approve(id);
  return tenant;
}

/** Runs scheduled() once; returns the log lines it wrote. */
async function runCron(overrides: Partial<Bindings> = {}): Promise<Record<string, unknown>[]> {
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    const ctx = createExecutionContext();
    await worker.scheduled(
      createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }),
      testEnv({ LOG_LEVEL: "info", ...overrides }),
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return log.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
  } finally {
    log.mockRestore();
  }
}

async function checkpoints(tenant?: string): Promise<Checkpoint[]> {
  const rows = (await testSql().query(
    `SELECT chain_id, seq, head_hash, key_id, signature,
       to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS signed_at
     FROM audit_checkpoints WHERE $1::text IS NULL OR chain_id = $1 ORDER BY id`,
    [tenant ?? null],
  )) as (Omit<Checkpoint, "seq"> & { seq: string })[];
  return rows.map((row) => ({ ...row, seq: Number(row.seq) }));
}

/** Changes a table behind its append-only trigger's back, as the table's owner could. */
async function tamper(table: string, statement: string, params: unknown[] = []): Promise<void> {
  const sql = testSql();
  const trigger = `${table}_append_only`;
  await sql.transaction([
    sql.query(`ALTER TABLE ${table} DISABLE TRIGGER ${trigger}`),
    sql.query(statement, params),
    sql.query(`ALTER TABLE ${table} ENABLE TRIGGER ${trigger}`),
  ]);
}

async function exportText(query: string, headers = admin.headers): Promise<string> {
  const res = await call(`/api/v1/admin/audit/export${query}`, { headers });
  expect(res.status, res.status === 200 ? "" : await res.clone().text()).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
  return res.text();
}

async function verify(
  text: string,
  keys: VerifyingKey[] = [key],
): Promise<VerifyResult & { errors: string[] }> {
  return verifyExportLines(text.split("\n"), { keys });
}

describe("signed checkpoints", () => {
  it("the cron signs one checkpoint per moved chain, and none when nothing moved", async () => {
    const tenant = await tenantWithChain();
    const lines = await runCron();
    expect(lines.find((line) => line.msg === "audit_checkpoints")).toMatchObject({ configured: true });
    expect(lines.find((line) => line.msg === "escalation_run")).toBeDefined();
    const [first, ...more] = await checkpoints(tenant);
    expect(more).toEqual([]);
    expect(first).toMatchObject({ chain_id: tenant, seq: 4, key_id: key.keyId });
    const [head] = (await testSql().query("SELECT hash FROM audit_chain WHERE chain_id = $1 AND seq = 4", [
      tenant,
    ])) as { hash: string }[];
    expect(first?.head_hash).toBe(head?.hash);

    const before = (await checkpoints()).length;
    const again = await runCron();
    expect(again.find((line) => line.msg === "audit_checkpoints")).toMatchObject({ chains: 0, written: 0 });
    expect(await checkpoints()).toHaveLength(before);

    await fileRequest(tenant);
    await runCron();
    expect((await checkpoints(tenant)).map((c) => c.seq)).toEqual([4, 5]);
  });

  it("publishes the public key at the well-known route, and the stored signatures verify with it", async () => {
    const res = await call("/.well-known/policy-api-audit-key");
    expect(res.status).toBe(200);
    const published = (await res.json()) as { algorithm: string; key_id: string; public_key: string };
    expect(published).toEqual({ algorithm: "Ed25519", key_id: key.keyId, public_key: TEST_AUDIT_PUBLIC_KEY });
    const fromRoute = await importVerifyingKey(published.public_key);
    const stored = await checkpoints();
    expect(stored.length).toBeGreaterThan(0);
    for (const checkpoint of stored) expect(await checkpointSignatureValid(fromRoute, checkpoint)).toBe(true);
  });

  it("without a key: no checkpoints, the key route answers 404, escalation runs as ever", async () => {
    const tenant = await tenantWithChain();
    const lines = await runCron({ AUDIT_SIGNING_KEY: undefined });
    expect(lines.filter((line) => line.msg === "audit_checkpoints_skipped")).toHaveLength(1);
    expect(lines.find((line) => line.msg === "escalation_run")).toMatchObject({ job: "escalation" });
    expect(lines.filter((line) => line.level === "error")).toEqual([]);
    expect(await checkpoints(tenant)).toEqual([]);
    const res = await call("/.well-known/policy-api-audit-key", {}, { AUDIT_SIGNING_KEY: undefined });
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe("not_found");
    expect((await call("/health", {}, { AUDIT_SIGNING_KEY: undefined })).status).toBe(200);
  });

  it("a broken key fails the checkpoints alone, logged, and escalation still runs", async () => {
    const lines = await runCron({ AUDIT_SIGNING_KEY: "bm90IGEga2V5" });
    expect(lines.find((line) => line.msg === "audit_checkpoints_failed")).toBeDefined();
    expect(lines.find((line) => line.msg === "escalation_run")).toBeDefined();
  });
});

describe("the export", () => {
  it("streams NDJSON that verifies with the public key: every chain, one tenant, a time slice", async () => {
    const tenant = await tenantWithChain();
    await runCron();
    const whole = await verify(await exportText(""));
    expect(whole.errors).toEqual([]);
    expect(whole.chains.filter((c) => c.broken || c.checkpoint_problem)).toEqual([]);
    expect(whole.ok).toBe(true);
    expect(whole.chains.find((c) => c.chain_id === tenant)).toMatchObject({ records: 4, checkpoint_seq: 4 });

    const text = await exportText(`?tenant=${tenant}`);
    const lines = text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.type, line.seq])).toEqual([
      ["export", undefined],
      ["record", 1],
      ["record", 2],
      ["record", 3],
      ["record", 4],
      ["checkpoint", 4],
    ]);
    expect(lines[0]).toMatchObject({ chains: tenant, from: null, to: null });
    expect((await verify(text)).ok).toBe(true);

    // Two more records, then a slice from the third record's creation on.
    await approve(await fileRequest(tenant));
    await runCron();
    const [third] = (await testSql().query(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
       FROM audit_chain WHERE chain_id = $1 AND seq = 3`,
      [tenant],
    )) as { at: string }[];
    const slice = await exportText(`?tenant=${tenant}&from=${third?.at}`);
    const result = await verify(slice);
    expect(result.ok).toBe(true);
    expect(result.chains).toEqual([
      expect.objectContaining({
        chain_id: tenant,
        first_seq: 3,
        head_seq: 6,
        checkpoints: 2,
        checkpoint_seq: 6,
      }),
    ]);
    // Without the key the links still verify; the checkpoints are reported as not checked.
    const unchecked = await verifyExportLines(slice.split("\n"));
    expect(unchecked).toMatchObject({ ok: true, checkpoints_checked: false });
    // A slice ending before the last checkpoint shows no checkpoint beyond it (no false truncation).
    const ended = await exportText(
      `?tenant=${tenant}&to=${encodeURIComponent(new Date(Date.parse(third?.at ?? "") + 1).toISOString())}`,
    );
    const endedResult = await verify(ended);
    expect(endedResult.ok).toBe(true);
  });

  it("catches records cut off the end after a checkpoint, naming the chain and seqs", async () => {
    const tenant = await tenantWithChain();
    await runCron();
    await tamper("audit_chain", "DELETE FROM audit_chain WHERE chain_id = $1 AND seq >= 3", [tenant]);
    const result = await verify(await exportText(`?tenant=${tenant}`));
    expect(result.ok).toBe(false);
    const [chain] = result.chains;
    expect(chain?.broken).toBeUndefined();
    expect(chain?.checkpoint_problem).toMatchObject({ chain_id: tenant, seq: 4, reason: "truncated" });
    expect(chain?.checkpoint_problem?.message).toContain("seq 3..4 were cut off");
  });

  it("catches a checkpoint with a forged signature", async () => {
    const tenant = await tenantWithChain();
    const [head] = (await testSql().query(
      "SELECT seq, hash FROM audit_chain WHERE chain_id = $1 ORDER BY seq DESC LIMIT 1",
      [tenant],
    )) as { seq: string; hash: string }[];
    await testSql().query(
      `INSERT INTO audit_checkpoints (chain_id, seq, head_hash, signed_at, key_id, signature)
       VALUES ($1, $2, $3, now(), $4, $5)`,
      [tenant, head?.seq, head?.hash, key.keyId, btoa(String.fromCharCode(...new Uint8Array(64).fill(7)))],
    );
    const result = await verify(await exportText(`?tenant=${tenant}`));
    expect(result.ok).toBe(false);
    expect(result.chains[0]?.checkpoint_problem).toMatchObject({
      seq: 4,
      reason: "checkpoint_signature_invalid",
    });
  });

  it("is for admins only (403 for an agent or approver key), and refuses to before from", async () => {
    for (const who of [agent, approver]) {
      const res = await call("/api/v1/admin/audit/export", { headers: who.headers });
      expect(res.status).toBe(403);
    }
    const res = await call("/api/v1/admin/audit/export?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", {
      headers: admin.headers,
    });
    expect(res.status).toBe(400);
  });
});
