// The decision log through its queue: eval hands the row to DECISION_LOG_QUEUE after answering, and the
// consumer (the worker's real queue() handler) writes a whole batch in one statement, idempotently.
// Nothing is lost: a refused send is written directly, a refused write is retried, a message delivered
// twice is written once.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { Bindings } from "../src/env.ts";
import worker from "../src/index.ts";
import type { DecisionLogMessage } from "../src/services/context.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { recordingDataset } from "./helpers/metrics.ts";

let admin: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
});

/** A stand-in for the decision-log queue producer that keeps what it is sent. */
function recordingDecisionQueue() {
  const sent: DecisionLogMessage[] = [];
  return {
    sent,
    binding: {
      async send(body: DecisionLogMessage) {
        sent.push(structuredClone(body));
      },
    } as unknown as Bindings["DECISION_LOG_QUEUE"],
  };
}

async function evaluate(tenant: string, env: Partial<Bindings>) {
  const res = await call(
    "/api/v1/policy/eval",
    {
      method: "POST",
      headers: { ...admin.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ skill_id: "search.web", tenant_id: tenant, payload: { q: "x" } }),
    },
    env,
  );
  expect(res.status).toBe(200);
  return (await res.json()) as { decision_id: string; decision: string };
}

const readDecision = (id: string) => call(`/api/v1/policy/decisions/${id}`, { headers: admin.headers });

async function consume(queue: string, bodies: unknown[], env: Partial<Bindings> = {}) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, index) => ({ id: `m${index}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, testEnv({ LOG_LEVEL: "info", ...env }), ctx);
  return getQueueResult(batch, ctx);
}

const newTenant = () => `dl-${crypto.randomUUID().slice(0, 8)}`;

describe("the decision log through its queue", () => {
  it("answers at once, then the consumer writes the batch: the same row as a direct write", async () => {
    const queue = recordingDecisionQueue();
    const tenant = newTenant();
    const answers = [];
    for (let i = 0; i < 3; i += 1)
      answers.push(await evaluate(tenant, { DECISION_LOG_QUEUE: queue.binding }));
    expect(queue.sent.map((message) => message.decision.id)).toEqual(
      answers.map((answer) => answer.decision_id),
    );
    // Not written yet: the consumer has not run.
    expect((await readDecision(answers[0]?.decision_id ?? "")).status).toBe(404);

    const result = await consume("policy-decisions", queue.sent);
    expect(result.explicitAcks.sort()).toEqual(["m0", "m1", "m2"]);
    expect(result.retryMessages).toEqual([]);
    const rows = await testSql().query(
      "SELECT id, tenant_id, decision, principal_id, key_id, created_at FROM policy_decisions WHERE tenant_id = $1 ORDER BY created_at",
      [tenant],
    );
    expect(rows.map((row) => row.id as string)).toEqual(answers.map((answer) => answer.decision_id));
    expect(rows[0]).toMatchObject({ decision: answers[0]?.decision, principal_id: admin.principalId });
    expect(new Date(String(rows[0]?.created_at)).toISOString()).toBe(queue.sent[0]?.decision.createdAt);
    const read = await readDecision(answers[1]?.decision_id ?? "");
    expect(read.status).toBe(200);
  });

  it("writes a message delivered twice once", async () => {
    const queue = recordingDecisionQueue();
    const tenant = newTenant();
    await evaluate(tenant, { DECISION_LOG_QUEUE: queue.binding });
    await consume("policy-decisions", queue.sent);
    const again = await consume("policy-decisions", [...queue.sent, ...queue.sent]);
    expect(again.explicitAcks.sort()).toEqual(["m0", "m1"]);
    const rows = await testSql().query(
      "SELECT count(*)::int AS n FROM policy_decisions WHERE tenant_id = $1",
      [tenant],
    );
    expect(rows[0]?.n).toBe(1);
  });

  it("writes directly when the queue refuses the row", async () => {
    const refusing = {
      send: async () => {
        throw new Error("queue unavailable (test)");
      },
    } as unknown as Bindings["DECISION_LOG_QUEUE"];
    const answer = await evaluate(newTenant(), { DECISION_LOG_QUEUE: refusing });
    expect((await readDecision(answer.decision_id)).status).toBe(200);
  });

  it("retries the batch when the database refuses it, counting the failure, and writes it on the retry", async () => {
    const queue = recordingDecisionQueue();
    const tenant = `refuse-${crypto.randomUUID().slice(0, 6)}`;
    await evaluate(tenant, { DECISION_LOG_QUEUE: queue.binding });
    await evaluate(tenant, { DECISION_LOG_QUEUE: queue.binding });
    await testSql().query(
      `ALTER TABLE policy_decisions ADD CONSTRAINT refuse_probe CHECK (tenant_id NOT LIKE 'refuse-%')`,
    );
    const metrics = recordingDataset();
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      const refused = await consume("policy-decisions", queue.sent, { METRICS: metrics });
      expect(refused.explicitAcks).toEqual([]);
      expect(refused.retryMessages.map((message) => message.msgId).sort()).toEqual(["m0", "m1"]);
      expect(metrics.totals()["nova_decision_log_failures_total{}"]).toBe(2);
      expect(
        log.mock.calls.some(([line]) => String(line).includes('"msg":"decision_log_write_failed"')),
      ).toBe(true);
    } finally {
      log.mockRestore();
      await testSql().query("ALTER TABLE policy_decisions DROP CONSTRAINT refuse_probe");
    }
    // The retry (here: the dead-letter queue's consumer, the same code) writes them.
    const retried = await consume("policy-decisions-dlq", queue.sent);
    expect(retried.explicitAcks.sort()).toEqual(["m0", "m1"]);
    const rows = await testSql().query(
      "SELECT count(*)::int AS n FROM policy_decisions WHERE tenant_id = $1",
      [tenant],
    );
    expect(rows[0]?.n).toBe(2);
  });

  it("drops a malformed message with a log line and still writes the others", async () => {
    const queue = recordingDecisionQueue();
    const tenant = newTenant();
    await evaluate(tenant, { DECISION_LOG_QUEUE: queue.binding });
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const result = await consume("policy-decisions", [
      { nonsense: true },
      ...queue.sent,
      { decision: { id: "x" } },
    ]);
    const lines = log.mock.calls.map(([line]) => String(line));
    log.mockRestore();
    expect(result.explicitAcks.sort()).toEqual(["m0", "m1", "m2"]);
    expect(lines.filter((line) => line.includes('"msg":"decision_log_message_malformed"'))).toHaveLength(2);
    const summary = lines.map((line) => JSON.parse(line)).find((line) => line.msg === "decision_log_batch");
    expect(summary).toMatchObject({ queue: "policy-decisions", messages: 3, written: 1, malformed: 2 });
    const rows = await testSql().query(
      "SELECT count(*)::int AS n FROM policy_decisions WHERE tenant_id = $1",
      [tenant],
    );
    expect(rows[0]?.n).toBe(1);
  });
});
