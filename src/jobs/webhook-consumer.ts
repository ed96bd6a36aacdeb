// The webhooks queue's consumers: policy-webhooks sends each delivery (services/webhooks/delivery.ts)
// and acknowledges or retries it with backoff; its dead-letter queue marks what exhausted its retries
// dead. One message is one delivery; each batch logs one summary line, like the request line.
import { outageRetryDelaySeconds, WEBHOOK_ERROR_RETRY } from "../domain/queue-retries.ts";
import type { Bindings } from "../env.ts";
import type { ServiceContext } from "../services/context.ts";
import {
  type DeliveryVerdict,
  deliver,
  deliveryBatch,
  markDeliveryDead,
} from "../services/webhooks/delivery.ts";
import type { DeliveryMessage } from "../services/webhooks/outbox.ts";
import { jobContext } from "./context.ts";

/** One well-formed message's attempt: whether to ack it or retry it, and when. */
type Settle = (deliveryId: number, attempts: number) => Promise<DeliveryVerdict>;

/**
 * Sends a batch of deliveries concurrently, a few at a time, under one deadline (deliveryBatch): a
 * batch of n ends within 10 s + ceil(n / 4) × the delivery timeout plus a database write, 40 s for 10
 * messages at the default 10 s, whatever the receivers do.
 */
export function consumeWebhooks(batch: MessageBatch, env: Bindings, ctx: ExecutionContext): Promise<void> {
  return consumeDeliveryMessages(batch, env, ctx, (services, started) => {
    const sending = deliveryBatch(services.config.WEBHOOK_TIMEOUT_MS, batch.messages.length, started);
    return (deliveryId, attempts) => deliver(services, deliveryId, attempts, sending);
  });
}

/** The dead-letter queue: retries exhausted, each delivery is marked dead (and counted). */
export function consumeDeadWebhooks(
  batch: MessageBatch,
  env: Bindings,
  ctx: ExecutionContext,
): Promise<void> {
  return consumeDeliveryMessages(batch, env, ctx, (services) => async (deliveryId) => {
    await markDeliveryDead(services, deliveryId);
    return { ack: true };
  });
}

/** The delivery a message names, or undefined when its body is not a DeliveryMessage. */
function deliveryIdOf(message: Message): number | undefined {
  const deliveryId = Number((message.body as Partial<DeliveryMessage> | null)?.delivery_id);
  return Number.isSafeInteger(deliveryId) && deliveryId > 0 ? deliveryId : undefined;
}

/**
 * Settles every message of the batch once: a malformed one is acked (it would fail the same way every
 * time), a failure of our own (the database is away, an invalid configuration) is retried after a
 * growing delay with nothing recorded.
 */
async function consumeDeliveryMessages(
  batch: MessageBatch,
  env: Bindings,
  ctx: ExecutionContext,
  prepare: (services: ServiceContext, started: number) => Settle,
): Promise<void> {
  const { services, log, metrics } = jobContext(env, ctx, "webhooks");
  const started = Date.now();
  const retryLater = (message: Message) =>
    message.retry({ delaySeconds: outageRetryDelaySeconds(message.attempts, WEBHOOK_ERROR_RETRY) });
  // One line per batch, like the request line: what came in and what became of it.
  const outcome = { acked: 0, retried: 0, failed: 0 };
  try {
    const settle = prepare(services, started);
    await Promise.all(
      batch.messages.map(async (message) => {
        const deliveryId = deliveryIdOf(message);
        if (deliveryId === undefined) {
          log.error("webhook_message_malformed", { queue: batch.queue, message_id: message.id });
          message.ack();
          outcome.failed += 1;
          return;
        }
        try {
          const verdict = await settle(deliveryId, message.attempts);
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
          retryLater(message);
          outcome.failed += 1;
        }
      }),
    );
  } catch (error) {
    log.error("webhook_batch_not_sent", { queue: batch.queue, error });
    // Only `prepare` gets here (each message's own failure is caught above): the configuration is
    // invalid, logged as config_invalid. Nothing can be sent until an operator fixes it, so every
    // message waits as it would through a database outage.
    for (const message of batch.messages) retryLater(message);
    outcome.failed = batch.messages.length;
  } finally {
    log.info("webhook_batch", {
      queue: batch.queue,
      messages: batch.messages.length,
      ...outcome,
      duration_ms: Date.now() - started,
    });
    metrics.flush(env.METRICS, log);
  }
}
