// The cron and queue entry points: the cron runs the escalation job and logs one summary line; the
// queue consumer acknowledges what it cannot deliver and logs one summary line per batch; a batch from
// a queue the worker does not consume is logged and thrown, never handled as another queue's.
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  type MessageBatchMessage,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../src/index.ts";
import { testEnv } from "./helpers/database.ts";

/** A message for a delivery that does not exist, and a malformed one. */
function undeliverable(): MessageBatchMessage[] {
  return [
    { id: "m1", timestamp: new Date(), attempts: 1, body: { delivery_id: 987654321 } },
    { id: "m2", timestamp: new Date(), attempts: 1, body: { request_id: "apr_0000000000000001" } },
  ];
}

describe("worker entry points", () => {
  it("runs the escalation job every minute and logs one summary line", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const ctx = createExecutionContext();
    await worker.scheduled(
      createScheduledController({ cron: "* * * * *", scheduledTime: 0 }),
      testEnv({ LOG_LEVEL: "info" }),
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const lines = log.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
    const runs = lines.filter((line) => line.msg === "escalation_run");
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ job: "escalation", trigger: "cron", paused: false, cut_short: false });
    expect(runs[0]?.run_id).toMatch(/^run_[0-9a-f]{32}$/);
    log.mockRestore();
  });

  it("acknowledges a message for a delivery that does not exist, and one that is malformed, after logging them", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const batch = createMessageBatch("policy-webhooks", undeliverable());
    const ctx = createExecutionContext();
    await worker.queue(batch, testEnv({ LOG_LEVEL: "info" }), ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["m1", "m2"]);
    expect(result.retryMessages).toEqual([]);
    const lines = log.mock.calls.map(([line]) => String(line));
    expect(lines.some((line) => line.includes('"msg":"webhook_message_malformed"'))).toBe(true);
    // One summary line per batch, as the request line is per request.
    const summaries = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === "webhook_batch");
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({
      queue: "policy-webhooks",
      messages: 2,
      acked: 1,
      retried: 0,
      failed: 1,
    });
    expect(summaries[0]?.duration_ms).toEqual(expect.any(Number));
    log.mockRestore();
  });

  it("throws a batch from a queue it does not consume, after logging it, and neither acks nor delivers any of it", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    // Were it taken for a webhooks batch, the missing delivery and the malformed body would be acked.
    const batch = createMessageBatch("policy-webhooks-staging", undeliverable());
    const ctx = createExecutionContext();
    try {
      await expect(worker.queue(batch, testEnv({ LOG_LEVEL: "info" }), ctx)).rejects.toThrow(
        'No consumer for queue "policy-webhooks-staging"',
      );
      const result = await getQueueResult(batch, ctx);
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages).toEqual([]);
      expect(result.ackAll).toBe(false);
      const lines = log.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
      expect(lines.filter((line) => line.level === "error")).toEqual([
        expect.objectContaining({ msg: "queue_unknown", queue: "policy-webhooks-staging", messages: 2 }),
      ]);
      expect(lines.map((line) => line.msg)).not.toContain("webhook_batch");
      expect(lines.map((line) => line.msg)).not.toContain("webhook_message_malformed");
    } finally {
      log.mockRestore();
    }
  });
});
