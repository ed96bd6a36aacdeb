// Webhook deliveries as operators and approvers see them: a request's deliveries with their attempt
// log, redelivery of failed and dead ones, and the global pause switch (audited) with its status.
import type { WebhookAttemptRow, WebhookOutboxRow } from "../../db/schema.ts";
import { listDeliveries, resetForRedelivery } from "../../db/webhooks.ts";
import type { Principal } from "../../domain/access.ts";
import type { AttemptOutcome } from "../../domain/vocabulary.ts";
import { ApiError } from "../../lib/errors.ts";
import { getRequest } from "../approval-requests.ts";
import type { ServiceContext } from "../context.ts";
import { type JobStatus, jobStatus, setJobSwitch } from "../jobs.ts";
import { eventId } from "./delivery.ts";
import { enqueueDeliveries, WEBHOOKS_JOB } from "./outbox.ts";

export interface DeliveryView {
  delivery_id: number;
  event_id: string;
  event: string;
  status: WebhookOutboxRow["status"];
  attempts: number;
  created_at: string;
  delivered_at: string | null;
  last_error: string | null;
  attempt_log: {
    attempt: number;
    outcome: AttemptOutcome;
    status_code: number | null;
    error: string | null;
    response_excerpt: string | null;
    duration_ms: number;
    at: string;
  }[];
}

function toView(delivery: WebhookOutboxRow, attempts: WebhookAttemptRow[]): DeliveryView {
  return {
    delivery_id: delivery.id,
    event_id: eventId(delivery.id),
    event: delivery.event,
    status: delivery.status,
    attempts: delivery.attempts,
    created_at: delivery.createdAt.toISOString(),
    delivered_at: delivery.deliveredAt?.toISOString() ?? null,
    last_error: delivery.lastError,
    attempt_log: attempts.map((attempt) => ({
      attempt: attempt.attempt,
      outcome: attempt.outcome,
      status_code: attempt.statusCode,
      error: attempt.error,
      response_excerpt: attempt.responseExcerpt,
      duration_ms: attempt.durationMs,
      at: attempt.createdAt.toISOString(),
    })),
  };
}

/** A request's deliveries with their attempts; the request must be visible to the principal. */
export async function requestDeliveries(
  ctx: ServiceContext,
  principal: Principal,
  requestId: string,
): Promise<DeliveryView[]> {
  await getRequest(ctx, principal, requestId);
  return (await listDeliveries(ctx.db, requestId)).map(({ delivery, attempts }) =>
    toView(delivery, attempts),
  );
}

/** Sends a request's failed and dead deliveries again. */
export async function redeliver(
  ctx: ServiceContext,
  principal: Principal,
  requestId: string,
): Promise<{ redelivered: number[] }> {
  await getRequest(ctx, principal, requestId);
  const ids = await resetForRedelivery(ctx.db, requestId, new Date());
  enqueueDeliveries(ctx, ids);
  if (ids.length > 0)
    ctx.log.info("webhook_redeliver", { request_id: requestId, deliveries: ids, by: principal.principalId });
  return { redelivered: ids };
}

export function webhookStatus(ctx: ServiceContext): Promise<JobStatus> {
  return jobStatus(ctx, WEBHOOKS_JOB);
}

/** Pauses or resumes every delivery (audited); while paused nothing is sent and nothing is lost. */
export function setWebhooksPaused(
  ctx: ServiceContext,
  principal: Principal,
  paused: boolean,
  reason: string,
): Promise<JobStatus> {
  if (!reason.trim()) throw new ApiError("bad_request", "Give a reason");
  return setJobSwitch(ctx, principal, WEBHOOKS_JOB, paused, reason);
}
