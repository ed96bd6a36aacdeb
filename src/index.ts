// Worker entry: HTTP API, the escalation cron and the webhook queue consumers.
import { createApp } from "./app.ts";
import { newRunId } from "./domain/ids.ts";
import type { Bindings } from "./env.ts";
import { createLogger, parseLogLevel } from "./lib/log.ts";
import { MetricsBuffer } from "./lib/metrics.ts";
import { createServiceContext } from "./services/context.ts";
import { runEscalation } from "./services/escalation.ts";

const app = createApp();

export default {
  fetch: app.fetch,

  /**
   * The Cron Trigger (`* * * * *`): expiry and escalation. The job clock is the later of now and the
   * trigger's scheduled time (tests schedule a run in the future to move the clock).
   */
  async scheduled(controller, env, ctx) {
    const runId = newRunId();
    const log = createLogger(parseLogLevel(env.LOG_LEVEL), { job: "escalation", run_id: runId });
    const metrics = new MetricsBuffer();
    const services = createServiceContext({
      env,
      log,
      metrics,
      waitUntil: (promise) => ctx.waitUntil(promise),
      requestId: runId,
    });
    try {
      await runEscalation(services, {
        now: new Date(Math.max(Date.now(), controller.scheduledTime)),
        trigger: "cron",
      });
    } catch (error) {
      // Logged and counted here; rethrown so the platform records the failed invocation. Nothing is
      // lost: every batch committed on its own, and the next minute picks up what is left.
      log.error("escalation_run_failed", { cron: controller.cron, error });
      metrics.count("nova_escalation_runs_total", { outcome: "failed" });
      throw error;
    } finally {
      metrics.flush(env.METRICS, log);
    }
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
