// Sending one Web Push notification (issue 31): a `push` delivery of the webhook outbox, sent by the
// same consumer with the same machinery as every other channel (services/notifications/send.ts:
// the pause switch, the destination checked again at send time, backoff, the dead-letter queue). The
// payload carries the request's id, skill, level and console page only, encrypted for the browser
// (RFC 8291) and signed for the push service (VAPID). 404 or 410 from the push service means the
// browser dropped the subscription: it is removed and the delivery fails for good; other failures retry.
import { loadSubscription, removeGoneSubscription, stampSubscription } from "../../db/push-subscriptions.ts";
import type { ApprovalRequestRow, WebhookOutboxRow } from "../../db/schema.ts";
import { isOpen } from "../../domain/approvals.ts";
import { encryptPushPayload, pushMessage, vapidAuthorization } from "../../domain/web-push.ts";
import type { ServiceContext } from "../context.ts";
import {
  type Attempt,
  type DeliveryBatch,
  type DeliveryVerdict,
  errorText,
  postToReceiver,
  retryForConfiguration,
  skip,
} from "../webhooks/sending.ts";

/** How long the push service keeps an undelivered push: until the request expires, within 1 min–1 day. */
const MIN_TTL_SECONDS = 60;
const MAX_TTL_SECONDS = 86_400;

export interface PushDelivery {
  delivery: WebhookOutboxRow;
  request: ApprovalRequestRow;
  attempt: Attempt;
  queueAttempt: number;
  batch: DeliveryBatch;
}

export async function deliverPush(ctx: ServiceContext, job: PushDelivery): Promise<DeliveryVerdict> {
  const { delivery, request, attempt, queueAttempt } = job;
  const subscription = delivery.pushSubscriptionId
    ? await loadSubscription(ctx.db, delivery.pushSubscriptionId)
    : undefined;
  if (!subscription) return skip(attempt, "the push subscription was removed");
  if (!isOpen(request.status)) {
    return skip(attempt, `the request no longer waits for a decision (it is ${request.status})`);
  }
  const { VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT } = ctx.config;
  if (!VAPID_PUBLIC_KEY || !VAPID_PRIVATE_KEY) {
    return retryForConfiguration(
      attempt,
      queueAttempt,
      "push is not configured: set VAPID_PUBLIC_KEY and the VAPID_PRIVATE_KEY secret",
    );
  }
  const page = new URL(`/console/requests/${request.id}`, ctx.config.CONSOLE_BASE_URL).toString();
  let body: Uint8Array<ArrayBuffer>;
  let authorization: string;
  try {
    const payload = new TextEncoder().encode(JSON.stringify(pushMessage(request, page)));
    body = await encryptPushPayload(payload, subscription);
    authorization = await vapidAuthorization(
      subscription.endpoint,
      { publicKey: VAPID_PUBLIC_KEY, privateKey: VAPID_PRIVATE_KEY, subject: VAPID_SUBJECT },
      Math.floor(Date.now() / 1000),
    );
  } catch (error) {
    // A VAPID pair that does not match, or a subscription's keys WebCrypto refuses: never the payload.
    ctx.log.error("push_not_prepared", { delivery_id: delivery.id, error: errorText(error) });
    return retryForConfiguration(
      attempt,
      queueAttempt,
      "cannot encrypt or sign the push (check the VAPID keys)",
    );
  }
  const ttl = Math.round((request.expiresAt.getTime() - Date.now()) / 1000);
  return postToReceiver(
    ctx,
    attempt,
    {
      url: subscription.endpoint,
      body,
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Encoding": "aes128gcm",
        TTL: String(Math.min(MAX_TTL_SECONDS, Math.max(MIN_TTL_SECONDS, ttl))),
        Urgency: "high",
        // One notification per request on the device: a reminder replaces the first.
        Topic: request.id.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 32),
        Authorization: authorization,
      },
      onAnswer: async (status) => {
        if (status === 404 || status === 410) {
          await removeGoneSubscription(ctx.db, subscription.id);
          ctx.log.info("push_subscription_removed", {
            subscription_id: subscription.id,
            principal_id: subscription.principalId,
            status,
          });
          return;
        }
        await stampSubscription(
          ctx.db,
          subscription.id,
          status >= 200 && status < 300 ? "success" : "failure",
        );
      },
    },
    queueAttempt,
    job.batch,
  );
}
