// A principal's Web Push subscriptions (issue 31), as the console's push page uses them. The principal
// is always the signed-in one (never a field of the form), its key must be one that decides requests
// (an agent key cannot subscribe), and the endpoint passes the webhook URL rules (https, no private or
// local hosts unless ALLOW_INSECURE_WEBHOOKS), so a subscription cannot aim the sender at an internal
// address; the sender checks it again, with what the name resolves to, at every send.
import {
  MAX_PUSH_SUBSCRIPTIONS_PER_PRINCIPAL,
  removeOwnSubscription,
  saveSubscription,
  subscriptionsOf,
} from "../db/push-subscriptions.ts";
import { can, type Principal } from "../domain/access.ts";
import { pushKeysProblem } from "../domain/web-push.ts";
import { webhookUrlProblem } from "../domain/webhook-url.ts";
import { ApiError, invalidField } from "../lib/errors.ts";
import type { ServiceContext } from "./context.ts";

/** A subscription as the console shows it: where it goes (the push service's host) and its history. */
export interface PushSubscriptionSummary {
  id: number;
  push_service: string;
  created_at: string;
  last_success_at: string | null;
  last_failure_at: string | null;
}

export interface PushSubscriptionInput {
  endpoint: string;
  p256dh: string;
  auth: string;
}

function requireDecidingKey(principal: Principal): void {
  if (!can(principal, "requests:decide")) {
    throw new ApiError("forbidden", "Only a key that decides requests can receive push notifications");
  }
}

/** The server's VAPID public key, or undefined when push is not configured. */
export function vapidPublicKey(ctx: ServiceContext): string | undefined {
  const { VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY } = ctx.config;
  return VAPID_PUBLIC_KEY && VAPID_PRIVATE_KEY ? VAPID_PUBLIC_KEY : undefined;
}

export async function subscribeToPush(
  ctx: ServiceContext,
  principal: Principal,
  input: PushSubscriptionInput,
): Promise<PushSubscriptionSummary> {
  requireDecidingKey(principal);
  if (!vapidPublicKey(ctx)) throw new ApiError("bad_request", "Push notifications are not configured here");
  const endpoint = input.endpoint.trim();
  const urlProblem = webhookUrlProblem(endpoint, ctx.config.ALLOW_INSECURE_WEBHOOKS);
  if (urlProblem) throw invalidField("endpoint", urlProblem);
  const keys = { p256dh: input.p256dh.trim(), auth: input.auth.trim() };
  const keysProblem = pushKeysProblem(keys);
  if (keysProblem) throw invalidField("keys", keysProblem);
  const saved = await saveSubscription(ctx.db, { principalId: principal.principalId, endpoint, ...keys });
  if (saved.outcome === "taken") {
    throw new ApiError(
      "forbidden",
      "This browser takes another principal's push notifications: turn them off there first",
    );
  }
  if (saved.outcome === "too_many") {
    throw new ApiError(
      "bad_request",
      `At most ${MAX_PUSH_SUBSCRIPTIONS_PER_PRINCIPAL} browsers per principal: remove one first`,
    );
  }
  ctx.log.info("push_subscribed", { principal_id: principal.principalId, subscription_id: saved.row.id });
  return toSummary(saved.row);
}

export async function listOwnPushSubscriptions(
  ctx: ServiceContext,
  principal: Principal,
): Promise<PushSubscriptionSummary[]> {
  requireDecidingKey(principal);
  return (await subscriptionsOf(ctx.db, principal.principalId)).map(toSummary);
}

export async function removeOwnPushSubscription(ctx: ServiceContext, principal: Principal, rawId: string) {
  requireDecidingKey(principal);
  const id = /^\d{1,15}$/.test(rawId) ? Number(rawId) : Number.NaN;
  if (!Number.isSafeInteger(id) || !(await removeOwnSubscription(ctx.db, principal.principalId, id))) {
    throw new ApiError("not_found", "You have no push subscription with that id");
  }
  ctx.log.info("push_unsubscribed", { principal_id: principal.principalId, subscription_id: id });
}

function toSummary(row: {
  id: number;
  endpoint: string;
  createdAt: Date;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
}): PushSubscriptionSummary {
  return {
    id: row.id,
    // The host only: the endpoint's path is the browser's capability URL.
    push_service: new URL(row.endpoint).host,
    created_at: row.createdAt.toISOString(),
    last_success_at: row.lastSuccessAt?.toISOString() ?? null,
    last_failure_at: row.lastFailureAt?.toISOString() ?? null,
  };
}
