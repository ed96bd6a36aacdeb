// Webhook deliveries for operators and approvers: a request's deliveries with their attempts (their
// wire shape is schemas/webhooks.ts deliveryToApi), redelivery of failed and dead ones, and the
// global pause switch (audited) with its status.
import {
  type DeliveryKind,
  type DeliveryWithAttempts,
  listDeliveries,
  resetForRedelivery,
} from "../../db/webhooks.ts";
import { type Principal, tenantActionRefusal } from "../../domain/access.ts";
import { tenantSigningKeys, whsecSecret } from "../../domain/webhook-signing.ts";
import { ApiError, invalidField } from "../../lib/errors.ts";
import { assertCan } from "../../lib/permissions.ts";
import { getRequest } from "../approval-requests.ts";
import type { ServiceContext } from "../context.ts";
import { type JobStatus, jobStatus, setJobSwitch } from "../jobs.ts";
import { enqueueDeliveries, WEBHOOKS_JOB } from "./outbox.ts";

/**
 * A request's deliveries with their attempts: its own webhook's, or (`notification`) its
 * notifications'; the request must be visible to the principal.
 */
export async function requestDeliveries(
  ctx: ServiceContext,
  principal: Principal,
  requestId: string,
  kind: DeliveryKind = "webhook",
): Promise<DeliveryWithAttempts[]> {
  await getRequest(ctx, principal, requestId);
  return listDeliveries(ctx.db, requestId, kind);
}

/** Sends a request's failed and dead deliveries (of its webhook, or of its notifications) again. */
export async function redeliver(
  ctx: ServiceContext,
  principal: Principal,
  requestId: string,
  kind: DeliveryKind = "webhook",
): Promise<{ redelivered: number[] }> {
  await getRequest(ctx, principal, requestId);
  const ids = await resetForRedelivery(ctx.db, requestId, new Date(), kind);
  enqueueDeliveries(ctx, ids);
  if (ids.length > 0)
    ctx.log.info(kind === "webhook" ? "webhook_redeliver" : "notification_redeliver", {
      request_id: requestId,
      deliveries: ids,
      by: principal.principalId,
    });
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

/** A tenant's webhook signing keys as receivers hold them, current first. */
export interface TenantSigningKeys {
  tenant_id: string;
  keys: { version: string; secret: string }[];
}

/**
 * The signing keys of one tenant's webhooks (for requests filed without a secret of their own), for
 * the keys that file its requests: the permission to file (agents, admins; not approvers, who could
 * forge an "approved" event to the agent with it) and the tenant scope of acting for the tenant. A
 * tenant-scoped key gets its own tenant's; a key for every tenant must name one.
 */
export async function tenantWebhookKeys(
  ctx: ServiceContext,
  principal: Principal,
  requested: string | undefined,
): Promise<TenantSigningKeys> {
  // Admins only: any agent or approver holding a tenant key could forge an "approved" event to
  // another receiver of that tenant (a peer agent, a tool runner).
  assertCan(principal, "keys:manage");
  const tenantId = requested ?? principal.tenantId;
  if (tenantId === null)
    throw invalidField(
      "tenant_id",
      "this key acts for every tenant: name the tenant whose key you want",
      "query",
    );
  const refusal = tenantActionRefusal(principal, tenantId);
  if (refusal) throw new ApiError("forbidden", refusal);
  const serviceKeys = ctx.config.WEBHOOK_SIGNING_SECRETS;
  if (serviceKeys.length === 0)
    throw new ApiError("not_found", "No webhook signing key is configured (WEBHOOK_SIGNING_SECRETS)");
  const keys = await tenantSigningKeys(serviceKeys, tenantId);
  ctx.log.info("webhook_signing_key_read", { tenant_id: tenantId, key_id: principal.keyId });
  return {
    tenant_id: tenantId,
    keys: keys.map((key) => ({ version: key.version, secret: whsecSecret(key) })),
  };
}
