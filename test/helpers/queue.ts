// Stand-ins for the webhooks Queue producer (WEBHOOK_QUEUE), so a test sees exactly what the services
// enqueued and then drives the real consumer itself (worker.queue with createMessageBatch).
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { expect, vi } from "vitest";
import type { Bindings } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { testEnv } from "./database.ts";
import { recordingDataset } from "./metrics.ts";

export interface RecordingQueue {
  /** The binding to pass in testEnv()/call() overrides. */
  binding: Bindings["WEBHOOK_QUEUE"];
  /** Every sendBatch call's message bodies, in call order. */
  batches: { delivery_id: number }[][];
  /** Every delivery id sent, in order. */
  ids(): number[];
  clear(): void;
}

/** A queue that records what it is sent (and sends nothing anywhere). */
export function recordingQueue(): RecordingQueue {
  const batches: { delivery_id: number }[][] = [];
  const queue = {
    async send(body: { delivery_id: number }) {
      batches.push([body]);
    },
    async sendBatch(messages: Iterable<{ body: { delivery_id: number } }>) {
      batches.push([...messages].map((message) => message.body));
    },
  };
  return {
    binding: queue as unknown as Bindings["WEBHOOK_QUEUE"],
    batches,
    ids: () => batches.flat().map((body) => body.delivery_id),
    clear: () => {
      batches.length = 0;
    },
  };
}

/** A queue whose every send fails (the enqueue after the commit is lost). */
export function failingQueue(): Bindings["WEBHOOK_QUEUE"] {
  const fail = async () => {
    throw new Error("queue unavailable (test)");
  };
  return { send: fail, sendBatch: fail } as unknown as Bindings["WEBHOOK_QUEUE"];
}

/**
 * getQueueResult() reports which messages were retried but not the delay asked for (the plugin's
 * stand-in message drops retry()'s options, whatever its types say), so record it on the way: message
 * id → the delay its retry() asked for.
 */
export function recordRetryDelays(batch: MessageBatch): Map<string, number | undefined> {
  const delays = new Map<string, number | undefined>();
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    message.retry = (retryOptions?: QueueRetryOptions) => {
      delays.set(message.id, retryOptions?.delaySeconds);
      retry(retryOptions);
    };
  }
  return delays;
}

/** What the webhooks consumer did with one batch (consumeDeliveries). */
export interface Consumed {
  acked: number[];
  /** Delivery id → the delay the consumer asked for. */
  retried: Map<number, number | undefined>;
  /** Counters the batch wrote (recordingDataset totals). */
  metrics: Record<string, number>;
  /** How long queue() took, in ms. */
  elapsed: number;
  /** The log lines the consumer wrote (kept from the console, so a test can check what they hold). */
  lines: string[];
}

/**
 * Drives the worker's real queue() consumer: one batch of `ids` on `queueName` (default the webhooks
 * queue), each message on its `attempts`-th try, with testEnv(env). Fails the test if the consumer
 * hit an unexpected error (it would answer a 30 s retry) or left a message unsettled.
 */
export async function consumeDeliveries(
  ids: number[],
  options: { attempts?: number; queueName?: string; env?: Partial<Bindings> } = {},
): Promise<Consumed> {
  const metrics = recordingDataset();
  const batch = createMessageBatch(
    options.queueName ?? "policy-webhooks",
    ids.map((id) => ({
      id: `msg-${id}`,
      timestamp: new Date(),
      attempts: options.attempts ?? 1,
      body: { delivery_id: id },
    })),
  );
  const delays = recordRetryDelays(batch);
  const ctx = createExecutionContext();
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    const started = Date.now();
    await worker.queue(batch, testEnv({ METRICS: metrics, ...options.env }), ctx);
    const elapsed = Date.now() - started;
    const result = await getQueueResult(batch, ctx);
    const lines = log.mock.calls.map(([line]) => String(line));
    expect(lines.filter((line) => line.includes('"msg":"webhook_delivery_error"'))).toEqual([]);
    const idOf = (msgId: string) => Number(msgId.replace("msg-", ""));
    expect(result.ackAll).toBe(false);
    expect(result.retryBatch.retry).toBe(false);
    // Every message is settled one way or the other, once.
    expect(result.explicitAcks.length + result.retryMessages.length).toBe(ids.length);
    return {
      acked: result.explicitAcks.map(idOf).sort((a, b) => a - b),
      retried: new Map(result.retryMessages.map((m) => [idOf(m.msgId), delays.get(m.msgId)])),
      metrics: metrics.totals(),
      elapsed,
      lines,
    };
  } finally {
    log.mockRestore();
  }
}
