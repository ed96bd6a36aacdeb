// Worker entry: HTTP goes to the Hono app, the Cron Trigger and the queue consumers to src/jobs/. The
// queue handler dispatches on the queue's name; a batch from a queue it does not know is logged and
// thrown (the platform retries it), never taken for a batch of another kind. The Durable Object
// classes (src/durable/) are exported from here, where wrangler.toml's bindings look for them.
import { createApp } from "./app.ts";
import { logLevelFor } from "./config.ts";
import type { Bindings } from "./env.ts";
import { consumeDecisionLog } from "./jobs/decision-log-consumer.ts";
import { QUEUES } from "./jobs/queues.ts";
import { runScheduled } from "./jobs/scheduled.ts";
import { consumeDeadWebhooks, consumeWebhooks } from "./jobs/webhook-consumer.ts";
import { createLogger } from "./lib/log.ts";

/** The Durable Object classes wrangler.toml binds: the platform finds them among the entry's exports. */
export { WaitGate } from "./durable/wait-gate.ts";
export { WaitRoom } from "./durable/wait-room.ts";

const app = createApp();

export default {
  fetch: app.fetch,

  scheduled: runScheduled,

  async queue(batch, env, ctx) {
    switch (batch.queue) {
      case QUEUES.webhooks:
        return consumeWebhooks(batch, env, ctx);
      case QUEUES.webhookDeadLetters:
        return consumeDeadWebhooks(batch, env, ctx);
      case QUEUES.decisionLog:
      case QUEUES.decisionLogDeadLetters:
        return consumeDecisionLog(batch, env, ctx);
      default: {
        // A consumer configured in wrangler.toml without a case here: nothing is acked, so the
        // platform retries the batch (and dead-letters it in the end) while an operator reads this.
        const log = createLogger(logLevelFor(env), { job: "queue" });
        log.error("queue_unknown", { queue: batch.queue, messages: batch.messages.length });
        throw new Error(`No consumer for queue "${batch.queue}"`);
      }
    }
  },
} satisfies ExportedHandler<Bindings>;
