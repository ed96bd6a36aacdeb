// Delivery: the outbox of what to send (a request's webhook events, written with the transition that
// caused them, and the notifications planned from notification_plans), each attempt at sending one,
// and the notification plans themselves.
import { sql } from "drizzle-orm";
import { bigint, bigserial, check, index, integer, jsonb, pgTable, text, unique } from "drizzle-orm/pg-core";
import {
  type AttemptOutcome,
  DELIVERY_CHANNELS,
  DELIVERY_STATUSES,
  type DeliveryChannel,
  type DeliveryStatus,
  NOTIFICATION_KINDS,
  type NotificationKind,
  type WebhookEvent,
} from "../../domain/vocabulary.ts";
import { quotedList, timestamptz } from "./columns.ts";

/**
 * Webhook events waiting for delivery, written in the same statement as the transition that caused
 * them, so an event exists exactly when its change committed. The webhook issue's queue consumer
 * delivers them.
 */
export const webhookOutbox = pgTable(
  "webhook_outbox",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    requestId: text("request_id").notNull(),
    event: text("event").$type<WebhookEvent>().notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    deliveredAt: timestamptz("delivered_at"),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    /** pending (to send or retrying), delivered, skipped (no webhook_url), failed (permanent), dead (retries exhausted). */
    status: text("status").$type<DeliveryStatus>().notNull().default("pending"),
    /** When it was last handed to the queue; NULL: never, or handed back (paused), so the sweep sends it. */
    enqueuedAt: timestamptz("enqueued_at"),
    lastAttemptAt: timestamptz("last_attempt_at"),
    /** request_webhook: the request's webhook_url (the M5 events); otherwise a notification's channel. */
    channel: text("channel").$type<DeliveryChannel>().notNull().default("request_webhook"),
    /** A notification's contact point (contact_points.id; it may be gone by send time: then skipped). */
    contactId: bigint("contact_id", { mode: "number" }),
    /** A `push` delivery's browser (push_subscriptions.id; it may be gone by send time: then skipped). */
    pushSubscriptionId: bigint("push_subscription_id", { mode: "number" }),
    /** The principal a notification tells; NULL for a tenant's own contact points. */
    recipientId: text("recipient_id"),
    /** Set when the recipient is told as the delegate of this principal. */
    onBehalfOf: text("on_behalf_of"),
    notificationKind: text("notification_kind").$type<NotificationKind>(),
    /** The notification plan it came from. */
    planId: bigint("plan_id", { mode: "number" }),
  },
  (table) => [
    index("webhook_outbox_undelivered_idx").on(table.createdAt).where(sql`${table.deliveredAt} IS NULL`),
    index("webhook_outbox_request_idx").on(table.requestId, table.id),
    // What the sweep reads: deliveries still to send.
    index("webhook_outbox_pending_idx").on(table.createdAt).where(sql`${table.status} = 'pending'`),
    check("webhook_outbox_status_valid", sql`${table.status} IN (${quotedList(DELIVERY_STATUSES)})`),
    check("webhook_outbox_channel_valid", sql`${table.channel} IN (${quotedList(DELIVERY_CHANNELS)})`),
    check(
      "webhook_outbox_notification_shape",
      sql`(${table.channel} = 'request_webhook') = (${table.notificationKind} IS NULL)`,
    ),
    check(
      "webhook_outbox_notification_kind_valid",
      sql`${table.notificationKind} IS NULL OR ${table.notificationKind} IN (${quotedList(NOTIFICATION_KINDS)})`,
    ),
  ],
);

/**
 * What to tell people about a request, and whether it has been planned into deliveries yet. A
 * transition that needs telling (created pending, escalated, decided) writes its plan in the statement
 * that commits it; the cron's reminders claim theirs (plan_key `reminder:<percent>`). Planning (who,
 * through which contact points) runs after the commit and writes the deliveries and planned_at in one
 * statement, so a plan is planned exactly once; the cron plans what a crash left unplanned.
 */
export const notificationPlans = pgTable(
  "notification_plans",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    requestId: text("request_id").notNull(),
    /** `v<version>` for a transition, `reminder:<percent>` for a reminder: one plan each, ever. */
    planKey: text("plan_key").notNull(),
    kind: text("kind").$type<NotificationKind>().notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    plannedAt: timestamptz("planned_at"),
    /** How many deliveries planning wrote. */
    deliveries: integer("deliveries"),
  },
  (table) => [
    unique("notification_plans_request_key").on(table.requestId, table.planKey),
    index("notification_plans_unplanned_idx").on(table.createdAt).where(sql`${table.plannedAt} IS NULL`),
    check("notification_plans_kind_valid", sql`${table.kind} IN (${quotedList(NOTIFICATION_KINDS)})`),
  ],
);

/** One try at sending a delivery: what was sent where, what came back, how long it took. */
export const webhookAttempts = pgTable(
  "webhook_attempts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    deliveryId: bigint("delivery_id", { mode: "number" }).notNull(),
    attempt: integer("attempt").notNull(),
    outcome: text("outcome").$type<AttemptOutcome>().notNull(),
    statusCode: integer("status_code"),
    /** Network error, timeout, refusal reason; never a secret. */
    error: text("error"),
    /** The first bytes of the response body, for diagnosis. */
    responseExcerpt: text("response_excerpt"),
    durationMs: integer("duration_ms").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (table) => [index("webhook_attempts_delivery_idx").on(table.deliveryId, table.id)],
);

export type WebhookOutboxRow = typeof webhookOutbox.$inferSelect;
export type NotificationPlanRow = typeof notificationPlans.$inferSelect;
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;
