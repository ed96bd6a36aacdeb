// The M5 runbook's SQL (seed/M5_POLICY_RUNBOOK.md), run unchanged against this schema.
import { beforeAll, describe, expect, it } from "vitest";
import { testSql } from "./helpers/database.ts";

const RUNBOOK = {
  statusDistribution: "SELECT status, COUNT(*) FROM approval_requests GROUP BY status;",
  failedWebhooks:
    "SELECT id, webhook_url, webhook_attempts, last_webhook_status FROM approval_requests WHERE webhook_attempts > 0 AND last_webhook_status != 'success' LIMIT 10;",
  disableWebhooks: "UPDATE approval_requests SET webhook_url = NULL WHERE status = 'pending';",
  disableAutoApprove: "UPDATE policy_approval_levels SET approval_level = 'manual_approve';",
  massReject:
    "UPDATE approval_requests SET status = 'rejected', resolved_at = NOW() WHERE status = 'pending';",
  recentWithAudit:
    "SELECT id, status, status_history_json, created_at FROM approval_requests ORDER BY created_at DESC LIMIT 10;",
  tableSize: "SELECT pg_size_pretty(pg_total_relation_size('approval_requests'));",
  indexes: "SELECT indexname FROM pg_indexes WHERE tablename = 'approval_requests';",
};

async function insertRequest(id: string, status: string, extra: Record<string, unknown> = {}) {
  const row = {
    webhook_url: "https://hooks.example.com/policy",
    webhook_attempts: 0,
    last_webhook_status: null,
    ...extra,
  };
  await testSql().query(
    `INSERT INTO approval_requests
       (id, correlation_id, status, status_history_json, policy_type, skill_id, tenant_id, payload,
        payload_hash, requested_by, required_level, expires_at, created_at, webhook_url, webhook_attempts,
        last_webhook_status)
     VALUES ($1, $2, $3, $4, 'cost', 'email.send', 'acme', '{}', 'hash', 'agent-7', 3,
             now() + interval '5 minutes', $5, $6, $7, $8)`,
    [
      id,
      `corr-${id}`,
      status,
      JSON.stringify([
        { from_status: null, to_status: status, actor: "agent-7", reason: "created", timestamp: "t" },
      ]),
      extra.created_at ?? new Date(),
      row.webhook_url,
      row.webhook_attempts,
      row.last_webhook_status,
    ],
  );
}

describe("runbook SQL", () => {
  beforeAll(async () => {
    await insertRequest("apr_000000000000000a", "pending", { created_at: new Date("2026-11-20T10:00:00Z") });
    await insertRequest("apr_000000000000000b", "pending", {
      created_at: new Date("2026-11-21T10:00:00Z"),
      webhook_attempts: 3,
      last_webhook_status: "http_500",
    });
    await insertRequest("apr_000000000000000c", "approved", {
      created_at: new Date("2026-11-22T10:00:00Z"),
      webhook_attempts: 1,
      last_webhook_status: "success",
    });
  });

  it("reads the status distribution", async () => {
    const rows = (await testSql().query(RUNBOOK.statusDistribution)) as { status: string; count: string }[];
    expect(Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]))).toEqual({
      pending: 2,
      approved: 1,
    });
  });

  it("finds failed webhooks but not delivered ones", async () => {
    const rows = (await testSql().query(RUNBOOK.failedWebhooks)) as {
      id: string;
      last_webhook_status: string;
    }[];
    expect(rows).toEqual([
      {
        id: "apr_000000000000000b",
        webhook_url: "https://hooks.example.com/policy",
        webhook_attempts: 3,
        last_webhook_status: "http_500",
      },
    ]);
  });

  it("lists recent requests with their audit trail, newest first", async () => {
    const rows = (await testSql().query(RUNBOOK.recentWithAudit)) as {
      id: string;
      status_history_json: unknown[];
    }[];
    expect(rows.map((row) => row.id)).toEqual([
      "apr_000000000000000c",
      "apr_000000000000000b",
      "apr_000000000000000a",
    ]);
    expect(rows[0]?.status_history_json).toEqual([
      { from_status: null, to_status: "approved", actor: "agent-7", reason: "created", timestamp: "t" },
    ]);
  });

  it("reports the table size and the indexes the queries use", async () => {
    const [size] = (await testSql().query(RUNBOOK.tableSize)) as { pg_size_pretty: string }[];
    expect(size?.pg_size_pretty).toMatch(/^\d+ (bytes|kB|MB)$/);
    const indexes = ((await testSql().query(RUNBOOK.indexes)) as { indexname: string }[]).map(
      (row) => row.indexname,
    );
    expect(indexes.sort()).toEqual([
      "approval_requests_correlation_id_key",
      "approval_requests_created_status_idx",
      "approval_requests_escalation_due_idx",
      "approval_requests_expires_status_idx",
      "approval_requests_idempotency_key",
      "approval_requests_list_idx",
      "approval_requests_open_expiry_idx",
      "approval_requests_pending_idx",
      "approval_requests_pkey",
      "approval_requests_receipt_id_key",
      "approval_requests_receipt_kid_idx",
      "approval_requests_status_tenant_idx",
    ]);
  });

  it("disables webhooks of pending requests", async () => {
    const result = await testSql().query(RUNBOOK.disableWebhooks, [], { fullResults: true });
    expect(result.rowCount).toBe(2);
    const rows = await testSql()`SELECT id FROM approval_requests WHERE webhook_url IS NOT NULL`;
    expect(rows).toEqual([{ id: "apr_000000000000000c" }]);
  });

  it("switches every policy to manual approval", async () => {
    const result = await testSql().query(RUNBOOK.disableAutoApprove, [], { fullResults: true });
    expect(result.rowCount).toBe(4);
    expect(await testSql()`SELECT DISTINCT approval_level FROM policy_approval_levels`).toEqual([
      { approval_level: "manual_approve" },
    ]);
  });

  it("mass-rejects pending requests", async () => {
    const result = await testSql().query(RUNBOOK.massReject, [], { fullResults: true });
    expect(result.rowCount).toBe(2);
    const rows = (await testSql()`SELECT status, resolved_at FROM approval_requests ORDER BY id`) as {
      status: string;
      resolved_at: Date | null;
    }[];
    expect(rows.map((row) => row.status)).toEqual(["rejected", "rejected", "approved"]);
    expect(rows[0]?.resolved_at).toBeInstanceOf(Date);
  });

  it("records what the raw mass reject skipped: history, version, and the webhook event", async () => {
    const rows = (await testSql()`
      SELECT id, version, status_history_json FROM approval_requests ORDER BY id`) as {
      id: string;
      version: number;
      status_history_json: { from_status: string; to_status: string; actor: string }[];
    }[];
    const rejected = rows.filter((row) => row.id !== "apr_000000000000000c");
    for (const row of rejected) {
      expect(row.version).toBe(2);
      expect(row.status_history_json.at(-1)).toMatchObject({
        from_status: "pending",
        to_status: "rejected",
        actor: expect.stringMatching(/^sql:/),
      });
    }
    // Their webhook_url was set to NULL by the earlier "disable webhooks" statement: nothing to send.
    expect(await testSql()`SELECT count(*)::int AS n FROM webhook_outbox`).toEqual([{ n: 0 }]);
    // A raw status change on a request that still has a webhook queues its event.
    await testSql().query(
      "UPDATE approval_requests SET status = 'rejected' WHERE id = 'apr_000000000000000c';",
    );
    expect(
      await testSql()`SELECT event FROM webhook_outbox WHERE request_id = 'apr_000000000000000c'`,
    ).toEqual([{ event: "approval_request_rejected" }]);
  });
});
