// The notification planner (issue 25): turns notification plans into deliveries on the webhook outbox,
// which the one delivery engine (services/webhooks/, the policy-webhooks queue) sends with its retries,
// dead letters, attempt records and pause switch.
//
// A plan is written by the transition that needs telling (db/transitions.ts planInsert) or claimed by
// the cron's reminders (claimReminders). Right after the commit the service plans it (waitUntil); the
// cron plans whatever a crash left unplanned. Planning reads who may decide in the tenant, the
// delegations in force and the contact points once per tenant, routes (domain/notification-routing.ts),
// and writes the deliveries with the plan's planned_at in one statement: exactly once per plan.
import {
  claimReminders,
  commitPlan,
  leftoverPlanIds,
  type PlanToPlan,
  type TenantDirectory,
  tenantDirectory,
  unplannedPlans,
} from "../../db/notifications.ts";
import { subscriptionsOfPrincipals } from "../../db/push-subscriptions.ts";
import { rolesWith } from "../../domain/access.ts";
import {
  MAX_DELIVERIES_PER_PLAN,
  notificationAudience,
  routeToContacts,
  routeToPush,
} from "../../domain/notification-routing.ts";
import type { ServiceContext } from "../context.ts";
import { enqueueNow } from "../webhooks/outbox.ts";

/** A plan still unplanned this long after it was written is the cron's (its planner is taken for lost). */
const LEFTOVER_GRACE_SECONDS = 30;
/** Plans the cron plans per run, and reminders it claims per run. */
const CRON_PLAN_LIMIT = 200;
/** Plans committed at once (each its own round trip). */
const COMMIT_CONCURRENCY = 8;

/**
 * Plans planned right after the commit, at most: a bulk change (a mass reject, an escalation batch)
 * leaves the rest to the cron, which plans 200 a minute, so one invocation's work (and its
 * subrequests, a round trip per plan) stays bounded.
 */
const IMMEDIATE_PLAN_LIMIT = 100;

/** Plans `planIds` after the answer (waitUntil); a failure, or a long list's tail, is left to the cron. */
export function planAfterCommit(ctx: ServiceContext, planIds: readonly number[]): void {
  if (planIds.length === 0) return;
  const now = planIds.slice(0, IMMEDIATE_PLAN_LIMIT);
  ctx.waitUntil(
    planNotifications(ctx, now).catch((error: unknown) =>
      ctx.log.warn("notification_planning_failed", { plans: now.length, error }),
    ),
  );
}

export interface PlanningSummary {
  plans: number;
  deliveries: number;
}

/**
 * Plans the given plans (those not planned yet) and hands their deliveries to the queue. Returns what
 * this call planned; a plan another planner got to first counts nowhere here.
 */
export async function planNotifications(
  ctx: ServiceContext,
  planIds: readonly number[],
  now: Date = new Date(),
): Promise<PlanningSummary> {
  const todo = await unplannedPlans(ctx.db, planIds);
  const summary: PlanningSummary = { plans: 0, deliveries: 0 };
  if (todo.length === 0) return summary;
  const directories = new Map<string, Promise<TenantDirectory>>();
  const directoryOf = (tenantId: string) => {
    let directory = directories.get(tenantId);
    if (!directory) {
      directory = tenantDirectory(ctx.db, tenantId, rolesWith("requests:decide"), now);
      directories.set(tenantId, directory);
    }
    return directory;
  };
  const deliveryIds: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const item = todo[next++] as PlanToPlan;
      const ids = await planOne(ctx, item, await directoryOf(item.request.tenantId), now);
      if (ids === null) continue;
      summary.plans += 1;
      summary.deliveries += ids.length;
      deliveryIds.push(...ids);
    }
  };
  await Promise.all(Array.from({ length: Math.min(COMMIT_CONCURRENCY, todo.length) }, worker));
  await enqueueNow(ctx, deliveryIds);
  return summary;
}

async function planOne(
  ctx: ServiceContext,
  { plan, request }: PlanToPlan,
  directory: TenantDirectory,
  now: Date,
): Promise<number[] | null> {
  const audience = notificationAudience(plan.kind, request, directory.deciders, directory.edges, now);
  // Progress only updates the Slack messages already posted: no contact point hears of it.
  const { deliveries, cut } =
    plan.kind === "progress"
      ? { deliveries: [], cut: 0 }
      : routeToContacts(audience, directory.contacts, request.tenantId);
  // Web Push (issue 31): each member's browsers, read for this plan's audience only.
  const subscriptions =
    plan.kind === "progress" || audience.length === 0
      ? []
      : await subscriptionsOfPrincipals(
          ctx.db,
          audience.map((member) => member.principalId),
        );
  const pushed = routeToPush(plan.kind, audience, subscriptions, MAX_DELIVERIES_PER_PLAN - deliveries.length);
  if (cut + pushed.cut > 0) {
    ctx.log.warn("notification_plan_cut", {
      plan_id: plan.id,
      request_id: request.id,
      left_out: cut + pushed.cut,
    });
  }
  // The tenant's Slack workspace hears every kind once per plan, as a channel (no one recipient): it
  // posts what needs deciding and updates what it posted (services/slack/send.ts).
  const slack = directory.slack
    ? [{ channel: "slack" as const, contactId: null, recipientId: null, onBehalfOf: null }]
    : [];
  const ids = await commitPlan(
    ctx.db,
    { id: plan.id, requestId: request.id, kind: plan.kind },
    [
      ...deliveries,
      ...pushed.deliveries.map((push) => ({ channel: "push" as const, contactId: null, ...push })),
      ...slack,
    ],
    now,
  );
  if (ids !== null) {
    ctx.metrics.count("nova_notifications_planned_total", { kind: plan.kind }, ids.length);
    ctx.log.info("notification_planned", {
      plan_id: plan.id,
      request_id: request.id,
      kind: plan.kind,
      recipients: audience.length,
      deliveries: ids.length,
    });
  }
  return ids;
}

export interface NotificationRun {
  reminders: number;
  leftovers: number;
  deliveries: number;
}

/**
 * The cron's part: claims the reminders due (bounded, SKIP LOCKED, once per request and point) and
 * plans them with the plans a crash left unplanned.
 */
export async function runNotifications(ctx: ServiceContext, now: Date): Promise<NotificationRun> {
  const reminders = await claimReminders(ctx.db, now, ctx.config.NOTIFY_REMINDERS, CRON_PLAN_LIMIT);
  const leftovers = await leftoverPlanIds(ctx.db, now, LEFTOVER_GRACE_SECONDS, CRON_PLAN_LIMIT);
  const planned = await planNotifications(ctx, [...reminders, ...leftovers], now);
  const run = { reminders: reminders.length, leftovers: leftovers.length, deliveries: planned.deliveries };
  if (run.reminders + run.leftovers > 0) ctx.log.info("notification_run", { ...run });
  return run;
}
