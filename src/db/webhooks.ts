// Statements of webhook delivery: load a delivery with its request's destination, record an attempt
// (the attempt row, the delivery and the request's M5 columns in one transaction), claim deliveries
// the queue never got (the sweep), mark dead, redeliver, and list a request's deliveries.
import { and, asc, eq, inArray, ne, sql } from "drizzle-orm";
import type { AttemptOutcome, DeliveryChannel, DeliveryStatus } from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import {
  approvalRequests,
  type WebhookAttemptRow,
  type WebhookOutboxRow,
  webhookAttempts,
  webhookOutbox,
} from "./schema.ts";

export interface DeliveryToSend {
  delivery: WebhookOutboxRow;
  /** Its place among its request's events, from 1 (outbox ids rise with each request's transitions). */
  sequence: number;
  webhookUrl: string | null;
  webhookSecretEncrypted: string | null;
  /** Whose keys sign it when the request has no secret of its own. */
  tenantId: string;
}

export async function loadDelivery(db: Database, id: number): Promise<DeliveryToSend | undefined> {
  const [row] = await db
    .select({
      delivery: webhookOutbox,
      // Counted on webhook_outbox_request_idx (request_id, id): a request has a handful of events.
      sequence: sql<number>`(SELECT count(*) FROM webhook_outbox o
        WHERE o.request_id = ${webhookOutbox.requestId} AND o.id <= ${webhookOutbox.id}
          AND o.channel = 'request_webhook')`.mapWith(Number),
      webhookUrl: approvalRequests.webhookUrl,
      webhookSecretEncrypted: approvalRequests.webhookSecretEncrypted,
      tenantId: approvalRequests.tenantId,
    })
    .from(webhookOutbox)
    .innerJoin(approvalRequests, eq(approvalRequests.id, webhookOutbox.requestId))
    .where(eq(webhookOutbox.id, id));
  return row;
}

export interface AttemptRecord {
  deliveryId: number;
  requestId: string;
  outcome: AttemptOutcome;
  /** What the delivery becomes. */
  deliveryStatus: DeliveryStatus;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
  durationMs: number;
  /** For the request's last_webhook_status: 'success', 'http_500', 'timeout', ...; null leaves it. */
  requestStatus: string | null;
  /** Whether the request's M5 columns count it (its own webhook; a notification does not). */
  requestColumns: boolean;
  /** Whether a call went out (counts in webhook_attempts). */
  called: boolean;
  /** Paused: hand the delivery back to the sweep (enqueued_at NULL). */
  release: boolean;
  at: Date;
}

/** One round trip: the attempt row, the delivery, and (a request webhook's) the request's webhook columns. */
export async function recordAttempt(db: Database, record: AttemptRecord): Promise<void> {
  const at = record.at;
  const attemptAndDelivery = [
    db.insert(webhookAttempts).values({
      deliveryId: record.deliveryId,
      attempt: sql`(SELECT attempts + ${record.called ? 1 : 0} FROM ${webhookOutbox} WHERE id = ${record.deliveryId})`,
      outcome: record.outcome,
      statusCode: record.statusCode,
      error: record.error,
      responseExcerpt: record.responseExcerpt,
      durationMs: record.durationMs,
      createdAt: at,
    }),
    db
      .update(webhookOutbox)
      .set({
        status: record.deliveryStatus,
        attempts: sql`${webhookOutbox.attempts} + ${record.called ? 1 : 0}`,
        lastAttemptAt: at,
        lastError:
          record.error ??
          (record.statusCode !== null && record.outcome !== "success" ? `http_${record.statusCode}` : null),
        deliveredAt: record.deliveryStatus === "delivered" ? at : sql`${webhookOutbox.deliveredAt}`,
        enqueuedAt: record.release ? null : sql`${webhookOutbox.enqueuedAt}`,
      })
      .where(eq(webhookOutbox.id, record.deliveryId)),
  ] as const;
  if (!record.requestColumns) {
    await db.batch(attemptAndDelivery);
    return;
  }
  await db.batch([
    ...attemptAndDelivery,
    db
      .update(approvalRequests)
      .set({
        webhookAttempts: sql`${approvalRequests.webhookAttempts} + ${record.called ? 1 : 0}`,
        lastWebhookStatus: record.requestStatus ?? sql`${approvalRequests.lastWebhookStatus}`,
        lastWebhookAt: record.called ? at : sql`${approvalRequests.lastWebhookAt}`,
      })
      .where(eq(approvalRequests.id, record.requestId)),
  ]);
}

/** Marks the given deliveries as handed to the queue at `at`, or (null) as not held by the queue. */
export async function markEnqueued(db: Database, ids: number[], at: Date | null): Promise<void> {
  if (ids.length === 0) return;
  await db.update(webhookOutbox).set({ enqueuedAt: at }).where(inArray(webhookOutbox.id, ids));
}

/**
 * Claims pending deliveries the queue does not hold: never enqueued (a failed send, a crash between
 * commit and enqueue, a paused consumer handing them back) for `graceSeconds`, or silent for
 * `staleSeconds` (longer than any retry delay). Oldest first, SKIP LOCKED, at most `limit`.
 */
export async function claimUnsentDeliveries(
  db: Database,
  now: Date,
  options: { limit: number; graceSeconds: number; staleSeconds: number },
): Promise<number[]> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const result = await db.execute(sql`
    UPDATE ${webhookOutbox} SET enqueued_at = ${at}
    WHERE id = ANY(ARRAY(
      SELECT id FROM ${webhookOutbox}
      WHERE status = 'pending' AND (
        (enqueued_at IS NULL AND created_at <= ${at} - ${options.graceSeconds} * interval '1 second')
        OR coalesce(last_attempt_at, enqueued_at) <= ${at} - ${options.staleSeconds} * interval '1 second')
      ORDER BY id LIMIT ${options.limit} FOR UPDATE SKIP LOCKED))
    RETURNING id`);
  return (result.rows as { id: unknown }[]).map((row) => Number(row.id));
}

/** Retries exhausted: pending → dead. Returns the request id and channel when this call changed it. */
export async function markDead(
  db: Database,
  id: number,
  at: Date,
): Promise<{ requestId: string; channel: DeliveryChannel } | undefined> {
  const [row] = await db
    .update(webhookOutbox)
    .set({ status: "dead", lastAttemptAt: at })
    .where(and(eq(webhookOutbox.id, id), eq(webhookOutbox.status, "pending")))
    .returning({ requestId: webhookOutbox.requestId, channel: webhookOutbox.channel });
  return row;
}

/** Which deliveries a listing or a redelivery covers: a request's own webhook, or its notifications. */
export type DeliveryKind = "webhook" | "notification";

const ofKind = (kind: DeliveryKind) =>
  kind === "webhook"
    ? eq(webhookOutbox.channel, "request_webhook")
    : ne(webhookOutbox.channel, "request_webhook");

/** Failed and dead deliveries of a request go back to pending; returns their ids to enqueue. */
export async function resetForRedelivery(
  db: Database,
  requestId: string,
  at: Date,
  kind: DeliveryKind = "webhook",
): Promise<number[]> {
  const rows = await db
    .update(webhookOutbox)
    .set({ status: "pending", enqueuedAt: null, lastAttemptAt: at, lastError: null })
    .where(
      and(
        eq(webhookOutbox.requestId, requestId),
        inArray(webhookOutbox.status, ["failed", "dead"]),
        ofKind(kind),
      ),
    )
    .returning({ id: webhookOutbox.id });
  return rows.map((row) => row.id);
}

/** A delivery with its place among its request's events (from 1) and its attempts, oldest attempt first. */
export interface DeliveryWithAttempts {
  delivery: WebhookOutboxRow;
  sequence: number;
  attempts: WebhookAttemptRow[];
}

export async function listDeliveries(
  db: Database,
  requestId: string,
  kind: DeliveryKind = "webhook",
): Promise<DeliveryWithAttempts[]> {
  const [deliveries, attempts] = await db.batch([
    db
      .select()
      .from(webhookOutbox)
      .where(and(eq(webhookOutbox.requestId, requestId), ofKind(kind)))
      .orderBy(asc(webhookOutbox.id)),
    db
      .select({ attempt: webhookAttempts })
      .from(webhookAttempts)
      .innerJoin(webhookOutbox, eq(webhookOutbox.id, webhookAttempts.deliveryId))
      .where(and(eq(webhookOutbox.requestId, requestId), ofKind(kind)))
      .orderBy(asc(webhookAttempts.id)),
  ]);
  return deliveries.map((delivery, index) => ({
    delivery,
    sequence: index + 1,
    attempts: attempts.filter((row) => row.attempt.deliveryId === delivery.id).map((row) => row.attempt),
  }));
}
