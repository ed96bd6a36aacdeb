// The queues the worker's queue() dispatches on (src/jobs/queues.ts) are exactly the consumers
// wrangler.toml declares (read by wrangler's own config reader), dead-letter queues included: a
// consumer without a case would have its every batch refused.
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { QUEUES } from "../../src/jobs/queues.ts";

interface QueueConsumer {
  queue: string;
  dead_letter_queue?: string;
}
// wrangler's published types leave this list untyped.
const consumers = (unstable_readConfig({ config: "wrangler.toml" }).queues.consumers ??
  []) as QueueConsumer[];

describe("queue configuration", () => {
  it("dispatches every consumer wrangler.toml declares, and no other queue", () => {
    const consumed = consumers.map((consumer) => consumer.queue).sort();
    expect(consumed).toEqual(Object.values(QUEUES).sort());
  });

  it("consumes every dead-letter queue it declares", () => {
    const deadLetters = consumers.flatMap((consumer) =>
      consumer.dead_letter_queue ? [consumer.dead_letter_queue] : [],
    );
    expect(deadLetters.length).toBeGreaterThan(0);
    for (const queue of deadLetters) expect(Object.values(QUEUES)).toContain(queue);
  });
});
