// Webhook deliveries for operators and approvers: a request's deliveries with their attempts (their
// wire shape is schemas/webhooks.ts deliveryToApi), redelivery of failed and dead ones, and the
// global pause switch (audited) with its status.
import { type DeliveryWithAttempts, listDeliveries, resetForRedelivery } from "../../db/webhooks.ts";
import type { Principal } from "../../domain/access.ts";
import { ApiError } from "../../lib/errors.ts";
import { getRequest } from "../approval-requests.ts";
import type { ServiceContext } from "../context.ts";
import { type JobStatus, jobStatus, setJobSwitch } from "../jobs.ts";
import { enqueueDeliveries, WEBHOOKS_JOB } from "./outbox.ts";

/** A request's deliveries with their attempts; the request must be visible to the principal. */
export async function requestDeliveries(
  ctx: ServiceContext,
  principal: Principal,
  requestId: string,
): Promise<DeliveryWithAttempts[]> {
  await getRequest(ctx, principal, requestId);
  return listDeliveries(ctx.db, requestId);
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
