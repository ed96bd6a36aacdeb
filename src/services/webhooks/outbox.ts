// The webhook outbox's producer side. Every status change writes its event to the outbox in the same
// statement (src/db/transitions.ts); after the commit the deliveries are handed to the Queue here, and
// the cron's sweep re-enqueues what the queue never got. The consumer (delivery.ts) sends them. A
// committed event is delivered, skipped (no webhook_url), failed (a permanent 4xx or a refused
// destination) or dead — never silently lost.
import { claimUnsentDeliveries, markEnqueued } from "../../db/webhooks.ts";
import type { ServiceContext } from "../context.ts";
import { isPaused } from "../jobs.ts";

/** The webhooks job: its switch (admin.ts) pauses both the sweep and the sends. */
export const WEBHOOKS_JOB = "webhooks";
/** A pending delivery silent this long is taken for lost (a message the queue dropped) and re-enqueued. */
const STALE_DELIVERY_SECONDS = 3600;
/** A delivery never enqueued this long after its commit is sent by the sweep. */
const ENQUEUE_GRACE_SECONDS = 30;
/** Queue sendBatch takes at most 100 messages. */
const SEND_BATCH_LIMIT = 100;

/** A webhooks queue message: one delivery to attempt. */
export interface DeliveryMessage {
  delivery_id: number;
}

/**
 * Hands committed deliveries to the queue after the answer (waitUntil) and marks them enqueued. A send
 * that fails leaves them unmarked (or unmarks them), so the cron sweep sends them within a minute.
 * Without a queue binding (the operator scripts) the sweep is the only sender.
 */
export function enqueueDeliveries(ctx: ServiceContext, ids: number[]): void {
  if (ids.length === 0 || !ctx.env.WEBHOOK_QUEUE) return;
  ctx.waitUntil(
    sendToQueue(ctx, ids).catch((error: unknown) =>
      ctx.log.warn("webhook_enqueue_failed", { deliveries: ids.length, error }),
    ),
  );
}

/**
 * Hands committed deliveries to the queue now (the caller is already after its answer, in waitUntil);
 * a failed send leaves them to the sweep, logged.
 */
export async function enqueueNow(ctx: ServiceContext, ids: number[]): Promise<void> {
  if (ids.length === 0 || !ctx.env.WEBHOOK_QUEUE) return;
  await sendToQueue(ctx, ids).catch((error: unknown) =>
    ctx.log.warn("webhook_enqueue_failed", { deliveries: ids.length, error }),
  );
}

/** Sends in chunks the queue accepts; marks each chunk sent, or unmarks it when its send fails. */
async function sendToQueue(ctx: ServiceContext, ids: number[]): Promise<void> {
  const queue = ctx.env.WEBHOOK_QUEUE;
  if (!queue) return;
  for (let start = 0; start < ids.length; start += SEND_BATCH_LIMIT) {
    const chunk = ids.slice(start, start + SEND_BATCH_LIMIT);
    try {
      await queue.sendBatch(chunk.map((id) => ({ body: { delivery_id: id } satisfies DeliveryMessage })));
    } catch (error) {
      await markEnqueued(ctx.db, ids.slice(start), null);
      throw error;
    }
    await markEnqueued(ctx.db, chunk, new Date());
  }
}

export interface SweepSummary {
  enqueued: number;
  paused: boolean;
}

/** The cron's sweep: re-enqueues deliveries the queue never got (none while deliveries are paused). */
export async function sweepDeliveries(ctx: ServiceContext, now: Date): Promise<SweepSummary> {
  if (await isPaused(ctx, WEBHOOKS_JOB)) return { enqueued: 0, paused: true };
  const queue = ctx.env.WEBHOOK_QUEUE;
  if (!queue) return { enqueued: 0, paused: false };
  const ids = await claimUnsentDeliveries(ctx.db, now, {
    limit: 1000,
    graceSeconds: ENQUEUE_GRACE_SECONDS,
    staleSeconds: STALE_DELIVERY_SECONDS,
  });
  await sendToQueue(ctx, ids);
  if (ids.length > 0) ctx.log.info("webhook_sweep", { enqueued: ids.length });
  return { enqueued: ids.length, paused: false };
}
