// The cron and queue entry points exist and behave safely until their own issues fill them in.
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
} from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../src/index.ts";
import { testEnv } from "./helpers/database.ts";

describe("worker entry points", () => {
  it("runs the every-minute scheduled handler and logs the run", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await worker.scheduled(
      createScheduledController({ cron: "* * * * *", scheduledTime: 0 }),
      testEnv({ LOG_LEVEL: "info" }),
    );
    const lines = log.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: "scheduled_run", cron: "* * * * *", job: "escalation" }),
    );
    log.mockRestore();
  });

  it("never acknowledges (and so never loses) a webhook message it cannot deliver yet", async () => {
    const batch = createMessageBatch("policy-webhooks", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: { request_id: "apr_0000000000000001" } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, testEnv());
    const result = await getQueueResult(batch, ctx);
    expect(result.ackAll).toBe(false);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryBatch.retry).toBe(true);
  });
});
