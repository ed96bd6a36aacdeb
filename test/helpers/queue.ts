// Stand-ins for the webhooks Queue producer (WEBHOOK_QUEUE), so a test sees exactly what the services
// enqueued and then drives the real consumer itself (worker.queue with createMessageBatch).
import type { Bindings } from "../../src/env.ts";

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
