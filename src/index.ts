// Worker entry: HTTP API, the escalation cron and the webhook queue consumers.
import { createApp } from "./app.ts";
import type { Bindings } from "./env.ts";
import { createLogger, parseLogLevel } from "./lib/log.ts";

const app = createApp();

export default {
  fetch: app.fetch,

  async scheduled(controller, env) {
    // The escalation and expiry run lands with its own issue; until then the trigger is visible in logs.
    createLogger(parseLogLevel(env.LOG_LEVEL), { job: "escalation" }).info("scheduled_run", {
      cron: controller.cron,
      scheduled_time: new Date(controller.scheduledTime).toISOString(),
      outcome: "no escalation logic deployed yet",
    });
  },

  async queue(batch, env) {
    // Webhook delivery lands with its own issue. Nothing produces messages yet; should one arrive, it is
    // retried later rather than acknowledged and lost.
    createLogger(parseLogLevel(env.LOG_LEVEL), { job: "webhooks" }).warn("queue_batch_deferred", {
      queue: batch.queue,
      messages: batch.messages.length,
    });
    batch.retryAll({ delaySeconds: 300 });
  },
} satisfies ExportedHandler<Bindings>;
