// The webhook sender: the queue consumer's one attempt at one delivery. Checks the destination again
// at send time (the URL rules, then what the host resolves to), signs the event, sends it under one
// clock for the whole exchange, reads at most an excerpt of the answer, records the attempt, and says
// whether to ack or retry with capped exponential backoff. The dead-letter consumer marks what
// exhausted its retries dead here too.

import type { WebhookOutboxRow } from "../../db/schema.ts";
import { loadDelivery, markDead } from "../../db/webhooks.ts";
import { webhookEventId } from "../../domain/ids.ts";
import {
  keyBytes,
  type SigningKey,
  signatureHeaders,
  tenantSigningKeys,
} from "../../domain/webhook-signing.ts";
import { decryptSecret, importEncryptionKey } from "../../lib/secrets.ts";
import type { ServiceContext } from "../context.ts";
import { isPaused } from "../jobs.ts";
import { deliverNotification } from "../notifications/send.ts";
import { WEBHOOKS_JOB } from "./outbox.ts";
import {
  type Attempt,
  attemptRecorder,
  type DeliveryBatch,
  type DeliveryVerdict,
  deliveryBatch,
  handBack,
  postToReceiver,
  retryForConfiguration,
} from "./sending.ts";

export { type DeliveryBatch, type DeliveryVerdict, deliveryBatch };

/**
 * The keys that sign a delivery: the request's own secret, else its tenant's keys derived from the
 * service keys (never the service keys themselves, which would let one tenant's receiver verify, and
 * forge, every tenant's events).
 */
async function signingKeys(
  ctx: ServiceContext,
  encryptedSecret: string | null,
  tenantId: string,
): Promise<SigningKey[]> {
  if (!encryptedSecret) return tenantSigningKeys(ctx.config.WEBHOOK_SIGNING_SECRETS, tenantId);
  const key = await importEncryptionKey(ctx.config.WEBHOOK_ENCRYPTION_KEY);
  if (!key) throw new Error("WEBHOOK_ENCRYPTION_KEY is not set: cannot read the request's secret");
  return [{ version: "request", bytes: keyBytes(await decryptSecret(encryptedSecret, key)) }];
}

/**
 * The body a receiver gets: the event, its id (stable across retries) and its place among the
 * request's events (`sequence`, from 1: receivers order by it), neither counting any other request's.
 */
export function eventBody(delivery: WebhookOutboxRow, sequence: number): string {
  return JSON.stringify({
    ...delivery.payload,
    event_id: webhookEventId(delivery.requestId, sequence),
    sequence,
  });
}

function webhookAttempt(ctx: ServiceContext, delivery: WebhookOutboxRow): Attempt {
  const started = Date.now();
  return {
    deliveryId: delivery.id,
    record: attemptRecorder(ctx, delivery, { requestColumns: true, started }),
    count: (outcome) => {
      ctx.metrics.count("nova_webhook_attempts_total", { outcome });
      ctx.metrics.count(
        "nova_webhook_attempt_duration_seconds_total",
        { outcome },
        (Date.now() - started) / 1000,
      );
    },
    failed: (reason) => ctx.metrics.count("nova_webhook_failures_total", { reason }),
  };
}

/**
 * One attempt at one delivery (the queue's `attempts` counts tries of this message). Records the
 * attempt, the delivery's state and the request's webhook columns, and says whether to ack or retry.
 * A notification (any channel but request_webhook) is sent by services/notifications/send.ts through
 * the same checks, clock and records.
 */
export async function deliver(
  ctx: ServiceContext,
  deliveryId: number,
  queueAttempt: number,
  batch: DeliveryBatch = deliveryBatch(ctx.config.WEBHOOK_TIMEOUT_MS, 1),
): Promise<DeliveryVerdict> {
  const loaded = await loadDelivery(ctx.db, deliveryId);
  // Gone, or already settled (a duplicate from the sweep or a redelivery): nothing to send.
  if (!loaded) return { ack: true };
  if (loaded.delivery.status !== "pending") return { ack: true };
  const { delivery } = loaded;
  if (delivery.channel !== "request_webhook") return deliverNotification(ctx, delivery, queueAttempt, batch);
  const attempt = webhookAttempt(ctx, delivery);

  if (await isPaused(ctx, WEBHOOKS_JOB)) return handBack(attempt);
  if (loaded.webhookUrl === null) {
    // The runbook's "disable webhooks" SQL sets webhook_url NULL: send nothing, say so.
    await attempt.record({
      outcome: "skipped",
      deliveryStatus: "skipped",
      error: "webhook_url is NULL",
      called: false,
    });
    attempt.count("skipped");
    return { ack: true };
  }
  const body = eventBody(delivery, loaded.sequence);
  let keys: SigningKey[];
  try {
    keys = await signingKeys(ctx, loaded.webhookSecretEncrypted, loaded.tenantId);
  } catch (error) {
    ctx.log.error("webhook_signing_key_unavailable", { delivery_id: deliveryId, error });
    keys = [];
  }
  if (keys.length === 0) {
    // Configuration, not the receiver: retry until an operator sets WEBHOOK_SIGNING_SECRETS.
    return retryForConfiguration(attempt, queueAttempt, "no signing key configured", "unsigned");
  }
  const headers = await signatureHeaders(
    keys,
    webhookEventId(delivery.requestId, loaded.sequence),
    Math.floor(Date.now() / 1000),
    body,
  );
  return postToReceiver(
    ctx,
    attempt,
    { url: loaded.webhookUrl, body, headers: { "Content-Type": "application/json", ...headers } },
    queueAttempt,
    batch,
  );
}

/** The dead-letter consumer: retries exhausted, the delivery is dead (and counted). */
export async function markDeliveryDead(ctx: ServiceContext, deliveryId: number): Promise<void> {
  const dead = await markDead(ctx.db, deliveryId, new Date());
  if (!dead) return;
  if (dead.channel === "request_webhook") {
    ctx.metrics.count("nova_webhook_failures_total", { reason: "dead" });
    ctx.log.warn("webhook_delivery_dead", { delivery_id: deliveryId, request_id: dead.requestId });
  } else {
    ctx.metrics.count("nova_notification_failures_total", { channel: dead.channel, reason: "dead" });
    ctx.log.warn("notification_delivery_dead", {
      delivery_id: deliveryId,
      request_id: dead.requestId,
      channel: dead.channel,
    });
  }
}
