// The cron and queue entry points: the cron runs the escalation job and logs one summary line; the
// queue consumer behaves safely until webhook delivery lands.
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../src/index.ts";
import { testEnv } from "./helpers/database.ts";

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
    const batch = createMessageBatch("policy-webhooks", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: { delivery_id: 987654321 } },
      { id: "m2", timestamp: new Date(), attempts: 1, body: { request_id: "apr_0000000000000001" } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, testEnv(), ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["m1", "m2"]);
    expect(result.retryMessages).toEqual([]);
    const lines = log.mock.calls.map(([line]) => String(line));
    expect(lines.some((line) => line.includes('"msg":"webhook_message_malformed"'))).toBe(true);
    log.mockRestore();
  });
});
