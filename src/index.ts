// Worker entry: HTTP API, the escalation cron, and the queue consumers (webhooks, decision log).
import { createApp } from "./app.ts";
import type { DecisionInsert } from "./db/decisions.ts";
import { newRunId } from "./domain/ids.ts";
import { DECISION_LOG_RETRY, outageRetryDelaySeconds, WEBHOOK_ERROR_RETRY } from "./domain/queue-retries.ts";
import type { Bindings } from "./env.ts";
import { createLogger, parseLogLevel } from "./lib/log.ts";
import { MetricsBuffer } from "./lib/metrics.ts";
import { writeCheckpoints } from "./services/audit-checkpoints.ts";
import { createServiceContext } from "./services/context.ts";
import { runEscalation } from "./services/escalation.ts";
import { decisionFromMessage, writeDecisionBatch } from "./services/evaluation.ts";
import { deliver, deliveryBatch, markDeliveryDead } from "./services/webhooks/delivery.ts";
import { sweepDeliveries } from "./services/webhooks/outbox.ts";

const app = createApp();

/** A service context for a background invocation (cron run or queue batch), with its own run id. */
function jobContext(env: Bindings, ctx: ExecutionContext, job: string) {
  const runId = newRunId();
  const log = createLogger(parseLogLevel(env.LOG_LEVEL), { job, run_id: runId });
  const metrics = new MetricsBuffer();
  const services = createServiceContext({
    env,
    log,
    metrics,
    waitUntil: (promise) => ctx.waitUntil(promise),
    requestId: runId,
  });
  return { services, log, metrics };
}

const DECISION_LOG_QUEUE = "policy-decisions";

/**
 * The decision log's queue (and its dead-letter queue): the whole batch in one statement. If the
 * database refuses, every message is retried (the write is idempotent), so nothing is lost.
 */
async function consumeDecisionLog(batch: MessageBatch, env: Bindings, ctx: ExecutionContext): Promise<void> {
  const { services, log, metrics } = jobContext(env, ctx, "decision_log");
  const started = Date.now();
  const valid: { message: Message; row: DecisionInsert }[] = [];
  let malformed = 0;
  for (const message of batch.messages) {
    const row = decisionFromMessage(message.body);
    if (row) valid.push({ message, row });
    else {
      // Would fail the same way every time: logged and dropped.
      malformed += 1;
      log.error("decision_log_message_malformed", { queue: batch.queue, message_id: message.id });
      message.ack();
    }
  }
  try {
    await writeDecisionBatch(
      services,
      valid.map(({ row }) => row),
    );
    for (const { message } of valid) message.ack();
    log.info("decision_log_batch", {
      queue: batch.queue,
      messages: batch.messages.length,
      written: valid.length,
      malformed,
      duration_ms: Date.now() - started,
    });
  } catch {
    // Logged and counted by writeDecisionBatch; the write is idempotent, so all of them go again.
    for (const { message } of valid)
      message.retry({ delaySeconds: outageRetryDelaySeconds(message.attempts, DECISION_LOG_RETRY) });
  } finally {
    metrics.flush(env.METRICS, log);
  }
}

export default {
  fetch: app.fetch,

  /**
   * The Cron Trigger (`* * * * *`): expiry and escalation, and the audit chain's signed checkpoints. The job clock is the later of now and the
   * trigger's scheduled time (tests schedule a run in the future to move the clock).
   */
  async scheduled(controller, env, ctx) {
    const { services, log, metrics } = jobContext(env, ctx, "escalation");
    const now = new Date(Math.max(Date.now(), controller.scheduledTime));
    // The deliveries the queue never got (a failed send, a crash before the enqueue): a failure here is
    // the sweep's own, and must not stop or be taken for the escalation run.
    ctx.waitUntil(
      sweepDeliveries(services, now).catch((error: unknown) => log.error("webhook_sweep_failed", { error })),
    );
    // The audit chain's signed checkpoints, beside escalation: their own failure is logged here and
    // never stops, fails or is taken for the escalation run.
    ctx.waitUntil(
      writeCheckpoints(services, now).catch((error: unknown) =>
        log.error("audit_checkpoints_failed", { error }),
      ),
    );
    try {
      await runEscalation(services, { now, trigger: "cron" });
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

  /**
   * Webhook delivery: each message is one delivery, sent and recorded by services/webhooks/delivery.ts, then
   * acknowledged or retried with backoff. The dead-letter queue's consumer marks exhausted ones dead.
   * The messages of a batch are delivered concurrently, a few sends at a time, under one deadline
   * (deliveryBatch): a batch of n ends within 10 s + ceil(n / 4) × the delivery timeout plus a
   * database write, 40 s for 10 messages at the default 10 s, whatever the receivers do.
   */
  async queue(batch, env, ctx) {
    if (batch.queue.startsWith(DECISION_LOG_QUEUE)) return consumeDecisionLog(batch, env, ctx);
    const { services, log, metrics } = jobContext(env, ctx, "webhooks");
    const deadLetters = batch.queue.endsWith("-dlq");
    const started = Date.now();
    const sending = deliveryBatch(env, batch.messages.length, started);
    // One line per batch, like the request line: what came in and what became of it.
    const outcome = { acked: 0, retried: 0, failed: 0 };
    try {
      await Promise.all(
        batch.messages.map(async (message) => {
          const deliveryId = Number((message.body as { delivery_id?: unknown } | null)?.delivery_id);
          if (!Number.isSafeInteger(deliveryId) || deliveryId <= 0) {
            log.error("webhook_message_malformed", { queue: batch.queue, message_id: message.id });
            message.ack();
            outcome.failed += 1;
            return;
          }
          try {
            if (deadLetters) {
              await markDeliveryDead(services, deliveryId);
              message.ack();
              outcome.acked += 1;
              return;
            }
            const verdict = await deliver(services, deliveryId, message.attempts, sending);
            if ("ack" in verdict) {
              message.ack();
              outcome.acked += 1;
            } else {
              message.retry({ delaySeconds: verdict.retryAfterSeconds });
              outcome.retried += 1;
            }
          } catch (error) {
            // The database is away, say: nothing was recorded, so try the message again shortly.
            log.error("webhook_delivery_error", { delivery_id: deliveryId, error });
            message.retry({ delaySeconds: outageRetryDelaySeconds(message.attempts, WEBHOOK_ERROR_RETRY) });
            outcome.failed += 1;
          }
        }),
      );
    } finally {
      log.info("webhook_batch", {
        queue: batch.queue,
        messages: batch.messages.length,
        ...outcome,
        duration_ms: Date.now() - started,
      });
      metrics.flush(env.METRICS, log);
    }
  },
} satisfies ExportedHandler<Bindings>;
