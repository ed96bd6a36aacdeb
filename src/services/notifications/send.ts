// Sending one notification: the webhook outbox's consumer (services/webhooks/delivery.ts deliver) hands
// every delivery whose channel is not the request's own webhook here, and it goes out through the same
// machinery: the pause switch, the send-time destination checks, the batch's send slots and clock, the
// attempt record, backoff, the dead-letter queue. Email goes through the SEND_EMAIL binding; Teams,
// Google Chat and the signed approver webhook are POSTs (postToReceiver); Slack is services/slack/send.ts,
// Web Push services/notifications/push.ts.
//
// The message is built at send time from the request as it is then, so a request decided meanwhile is
// not announced as waiting (such a notification is skipped), and the view link is minted for the
// recipient now (bound to the request and the principal, expiring with the request).
import { loadNotification } from "../../db/notifications.ts";
import type { WebhookOutboxRow } from "../../db/schema.ts";
import { isOpen } from "../../domain/approvals.ts";
import { notificationEventId } from "../../domain/ids.ts";
import { approverWebhookMessage, googleChatMessage, teamsMessage } from "../../domain/notification-cards.ts";
import { type NotificationContent, notificationContent } from "../../domain/notification-content.ts";
import type { ContactChannel } from "../../domain/vocabulary.ts";
import { notificationEmail, sendBuiltEmail } from "../../lib/notification-email.ts";
import { type OpenedContact, openContact } from "../contacts.ts";
import type { ServiceContext } from "../context.ts";
import { isPaused } from "../jobs.ts";
import { deliverSlack } from "../slack/send.ts";
import { viewLink } from "../view-links.ts";
import { WEBHOOKS_JOB } from "../webhooks/outbox.ts";
import {
  type Attempt,
  attemptRecorder,
  backoffSeconds,
  type DeliveryBatch,
  type DeliveryVerdict,
  errorText,
  handBack,
  postToReceiver,
  retryForConfiguration,
  skip,
} from "../webhooks/sending.ts";
import { deliverPush } from "./push.ts";

function notificationAttempt(ctx: ServiceContext, delivery: WebhookOutboxRow): Attempt {
  const started = Date.now();
  const channel = delivery.channel;
  return {
    deliveryId: delivery.id,
    record: attemptRecorder(ctx, delivery, { requestColumns: false, started }),
    count: (outcome) => ctx.metrics.count("nova_notification_attempts_total", { channel, outcome }),
    failed: (reason) => ctx.metrics.count("nova_notification_failures_total", { channel, reason }),
  };
}

/** One attempt at one notification delivery; the verdict tells the queue consumer to ack or retry. */
export async function deliverNotification(
  ctx: ServiceContext,
  delivery: WebhookOutboxRow,
  queueAttempt: number,
  batch: DeliveryBatch,
): Promise<DeliveryVerdict> {
  const attempt = notificationAttempt(ctx, delivery);
  if (await isPaused(ctx, WEBHOOKS_JOB)) return handBack(attempt);
  const kind = delivery.notificationKind;
  const loaded = await loadNotification(ctx.db, delivery);
  if (!loaded || !kind) return skip(attempt, "the request is gone");
  const { request, contact } = loaded;
  // The tenant's Slack workspace: posts and updates of its own (services/slack/send.ts).
  if (delivery.channel === "slack") {
    return deliverSlack(ctx, { delivery, request, kind, attempt, queueAttempt, batch });
  }
  // A browser's Web Push subscription (issue 31): services/notifications/push.ts.
  if (delivery.channel === "push") {
    return deliverPush(ctx, { delivery, request, attempt, queueAttempt, batch });
  }
  if (!contact) return skip(attempt, "the contact point was removed");
  if (kind !== "decided" && !isOpen(request.status)) {
    return skip(attempt, `the request no longer waits for a decision (it is ${request.status})`);
  }

  let content: NotificationContent;
  let target: OpenedContact;
  try {
    const link = delivery.recipientId
      ? await viewLink(ctx, request, delivery.recipientId)
      : new URL(`/console/requests/${request.id}`, ctx.config.CONSOLE_BASE_URL).toString();
    content = notificationContent(
      request,
      kind,
      {
        principalId: delivery.recipientId,
        onBehalfOf: delivery.onBehalfOf,
      },
      link,
    );
    target = await openContact(ctx, contact);
  } catch (error) {
    // WEBHOOK_ENCRYPTION_KEY missing or rotated away: nothing can be signed or unsealed until it is set.
    ctx.log.error("notification_not_prepared", { delivery_id: delivery.id, error });
    return retryForConfiguration(attempt, queueAttempt, "cannot sign the link or unseal the contact point");
  }
  if (target.channel === "email") return sendEmail(ctx, attempt, content, target.target, queueAttempt);
  const outgoing = await chatMessage(delivery, target.channel, content, target);
  return postToReceiver(ctx, attempt, outgoing, queueAttempt, batch);
}

/** The POST for a chat or webhook contact point. */
async function chatMessage(
  delivery: WebhookOutboxRow,
  channel: Exclude<ContactChannel, "email">,
  content: NotificationContent,
  target: OpenedContact,
) {
  if (channel === "teams") {
    return { url: target.target, body: JSON.stringify(teamsMessage(content)), headers: JSON_HEADERS };
  }
  if (channel === "google_chat") {
    return { url: target.target, body: JSON.stringify(googleChatMessage(content)), headers: JSON_HEADERS };
  }
  const signed = await approverWebhookMessage(content, {
    secret: target.secret ?? "",
    eventId: notificationEventId(delivery.id),
    timestampSeconds: Math.floor(Date.now() / 1000),
  });
  return { url: target.target, body: signed.body, headers: signed.headers };
}

const JSON_HEADERS = { "Content-Type": "application/json; charset=UTF-8" };

/** How long the SEND_EMAIL binding gets to take a message. */
const EMAIL_TIMEOUT_MS = 10_000;

async function sendEmail(
  ctx: ServiceContext,
  attempt: Attempt,
  content: NotificationContent,
  to: string,
  queueAttempt: number,
): Promise<DeliveryVerdict> {
  const from = ctx.config.NOTIFY_EMAIL_FROM;
  const binding = ctx.env.SEND_EMAIL;
  if (!from || !binding) {
    return retryForConfiguration(
      attempt,
      queueAttempt,
      "email is not configured: set NOTIFY_EMAIL_FROM and the SEND_EMAIL binding",
    );
  }
  const built = notificationEmail(content, { from: { addr: from, name: "Policy API" }, to });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${EMAIL_TIMEOUT_MS} ms`)),
        EMAIL_TIMEOUT_MS,
      );
    });
    const result = await Promise.race([sendBuiltEmail(binding, built), timeout]);
    await attempt.record({
      outcome: "success",
      deliveryStatus: "delivered",
      responseExcerpt: result.messageId ? `message-id ${result.messageId}` : null,
      called: true,
    });
    attempt.count("success");
    return { ack: true };
  } catch (error) {
    const message = errorText(error);
    // The binding refuses a destination or sender it does not allow: that will not change by retrying.
    if (/not allowed|not verified|destination address/i.test(message)) {
      await attempt.record({
        outcome: "failed",
        deliveryStatus: "failed",
        error: `refused: ${message}`,
        called: true,
      });
      attempt.count("failed");
      attempt.failed("rejected");
      return { ack: true };
    }
    await attempt.record({
      outcome: "retry",
      deliveryStatus: "pending",
      error: `email: ${message}`,
      called: true,
    });
    attempt.count("retry");
    return { retryAfterSeconds: backoffSeconds(queueAttempt, null) };
  } finally {
    clearTimeout(timer);
  }
}
