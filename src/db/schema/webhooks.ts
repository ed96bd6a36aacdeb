// Webhook delivery: the outbox of events to send (written with the transition that caused them) and
// each attempt at sending one.
import { sql } from "drizzle-orm";
import { bigint, bigserial, check, index, integer, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import {
  type AttemptOutcome,
  DELIVERY_STATUSES,
  type DeliveryStatus,
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
  },
  (table) => [
    index("webhook_outbox_undelivered_idx").on(table.createdAt).where(sql`${table.deliveredAt} IS NULL`),
    index("webhook_outbox_request_idx").on(table.requestId, table.id),
    // What the sweep reads: deliveries still to send.
    index("webhook_outbox_pending_idx").on(table.createdAt).where(sql`${table.status} = 'pending'`),
    check("webhook_outbox_status_valid", sql`${table.status} IN (${quotedList(DELIVERY_STATUSES)})`),
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
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;
