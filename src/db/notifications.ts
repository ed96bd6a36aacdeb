// Statements of the notification engine: the plans to plan (with their requests), what planning reads
// (who may decide in a tenant, the delegations in force there, the contact points reaching it), the
// one statement that turns a plan into deliveries, the cron's reminder claims, and a notification
// delivery with what sending it needs.
import { and, eq, gt, inArray, isNull, lte, or, sql } from "drizzle-orm";
import type { Decider } from "../domain/notification-routing.ts";
import type { NotificationKind, Role } from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import {
  type ApprovalRequestRow,
  apiKeys,
  approvalRequests,
  type ContactPointRow,
  contactPoints,
  type DelegationRow,
  delegations,
  type NotificationPlanRow,
  notificationPlans,
  slackWorkspaces,
  type WebhookOutboxRow,
  webhookOutbox,
} from "./schema.ts";
import { deliveryIdsOf, TENANT_HEARS } from "./transitions.ts";

/** Delegations read for one tenant's planning: far more than any tenant has in force at once. */
const EDGE_LIMIT = 1000;
/** Contact points read for one tenant's planning. */
const CONTACT_LIMIT = 5000;

export interface PlanToPlan {
  plan: NotificationPlanRow;
  request: ApprovalRequestRow;
}

/** The plans among `ids` not planned yet, with their requests. */
export async function unplannedPlans(db: Database, ids: readonly number[]): Promise<PlanToPlan[]> {
  if (ids.length === 0) return [];
  return db
    .select({ plan: notificationPlans, request: approvalRequests })
    .from(notificationPlans)
    .innerJoin(approvalRequests, eq(approvalRequests.id, notificationPlans.requestId))
    .where(and(inArray(notificationPlans.id, [...ids]), isNull(notificationPlans.plannedAt)))
    .orderBy(notificationPlans.id);
}

/** Plans left unplanned `graceSeconds` after they were written (a crash after the commit), oldest first. */
export async function leftoverPlanIds(
  db: Database,
  now: Date,
  graceSeconds: number,
  limit: number,
): Promise<number[]> {
  const rows = await db
    .select({ id: notificationPlans.id })
    .from(notificationPlans)
    .where(
      and(
        isNull(notificationPlans.plannedAt),
        lte(notificationPlans.createdAt, new Date(now.getTime() - graceSeconds * 1000)),
      ),
    )
    .orderBy(notificationPlans.createdAt)
    .limit(limit);
  return rows.map((row) => row.id);
}

export interface TenantDirectory {
  deciders: Decider[];
  edges: DelegationRow[];
  contacts: ContactPointRow[];
  /** The tenant has a Slack workspace: each plan gets one `slack` delivery too. */
  slack: boolean;
}

/**
 * What planning reads for one tenant, in one round trip: the principals whose live keys may decide
 * its requests (with the highest level among them), the delegations in force at `at` there, and the
 * contact points reaching it.
 */
export async function tenantDirectory(
  db: Database,
  tenantId: string,
  decidingRoles: readonly Role[],
  at: Date,
): Promise<TenantDirectory> {
  const [deciders, edges, contacts, workspaces] = await db.batch([
    db
      .select({
        principalId: apiKeys.principalId,
        maxLevel: sql<number>`max(${apiKeys.maxLevel})`.mapWith(Number),
      })
      .from(apiKeys)
      .where(
        and(
          isNull(apiKeys.revokedAt),
          inArray(apiKeys.role, [...decidingRoles]),
          or(isNull(apiKeys.tenantId), eq(apiKeys.tenantId, tenantId)),
        ),
      )
      .groupBy(apiKeys.principalId)
      .orderBy(apiKeys.principalId),
    db
      .select()
      .from(delegations)
      .where(
        and(
          or(isNull(delegations.tenantId), eq(delegations.tenantId, tenantId)),
          lte(delegations.startsAt, at),
          gt(delegations.endsAt, at),
          or(isNull(delegations.revokedAt), gt(delegations.revokedAt, at)),
        ),
      )
      .limit(EDGE_LIMIT),
    db
      .select()
      .from(contactPoints)
      .where(or(isNull(contactPoints.tenantId), eq(contactPoints.tenantId, tenantId)))
      .orderBy(contactPoints.id)
      .limit(CONTACT_LIMIT),
    db
      .select({ tenantId: slackWorkspaces.tenantId })
      .from(slackWorkspaces)
      .where(eq(slackWorkspaces.tenantId, tenantId)),
  ]);
  return { deciders, edges, contacts, slack: workspaces.length > 0 };
}

/** One notification delivery a plan writes. */
export interface PlannedDelivery {
  channel: WebhookOutboxRow["channel"];
  /** null: a `slack` delivery (the tenant's workspace, not a contact point) or a `push` one. */
  contactId: number | null;
  /** A `push` delivery's browser. */
  pushSubscriptionId?: number | null;
  recipientId: string | null;
  onBehalfOf: string | null;
}

/**
 * Turns plan `planId` into its deliveries, exactly once: the plan is marked planned and its deliveries
 * written in one statement, guarded by planned_at IS NULL, so of two planners (the one after the commit
 * and the cron's) only one writes anything. Returns the delivery ids, or null when it was planned already.
 */
export async function commitPlan(
  db: Database,
  plan: { id: number; requestId: string; kind: NotificationKind },
  deliveries: readonly PlannedDelivery[],
  at: Date,
): Promise<number[] | null> {
  const rows = JSON.stringify(
    deliveries.map((d) => ({
      channel: d.channel,
      contact_id: d.contactId,
      push_subscription_id: d.pushSubscriptionId ?? null,
      recipient_id: d.recipientId,
      on_behalf_of: d.onBehalfOf,
    })),
  );
  const result = await db.execute(sql`
    WITH planned AS (
      UPDATE ${notificationPlans} SET planned_at = ${at.toISOString()}::timestamptz, deliveries = ${deliveries.length}
      WHERE id = ${plan.id} AND planned_at IS NULL
      RETURNING id
    ),
    written AS (
      INSERT INTO ${webhookOutbox} (request_id, event, payload, channel, contact_id, push_subscription_id,
        recipient_id, on_behalf_of, notification_kind, plan_id)
      SELECT ${plan.requestId}, ${`notification.${plan.kind}`}, jsonb_build_object('kind', ${plan.kind}::text),
        d.channel, d.contact_id, d.push_subscription_id, d.recipient_id, d.on_behalf_of, ${plan.kind}, planned.id
      FROM planned, jsonb_to_recordset(${rows}::jsonb)
        AS d(channel text, contact_id bigint, push_subscription_id bigint, recipient_id text, on_behalf_of text)
      RETURNING id
    )
    SELECT (SELECT count(*) FROM planned) AS planned,
      coalesce((SELECT array_agg(id ORDER BY id) FROM written), '{}') AS delivery_ids`);
  const [raw] = result.rows as Record<string, unknown>[];
  if (!raw || Number(raw.planned) === 0) return null;
  return deliveryIdsOf(raw);
}

/**
 * Claims the reminders due at `now`, at most `limit`, and writes their plans: for each open request
 * whose deadline some point of `percents` has passed (that share of the time from created_at to
 * expires_at), the latest such point, unless a reminder at it or a later point exists already.
 * Oldest deadline first; rows another run holds are skipped (SKIP LOCKED), and the (request, plan_key)
 * key makes a second claim of the same reminder write nothing, so two overlapping runs remind once.
 * Only tenants someone could be told about are looked at.
 */
export async function claimReminders(
  db: Database,
  now: Date,
  percents: readonly number[],
  limit: number,
): Promise<number[]> {
  if (percents.length === 0) return [];
  const at = sql`${now.toISOString()}::timestamptz`;
  const result = await db.execute(sql`
    WITH due AS (
      SELECT DISTINCT ON (r.id) r.id, p.point, r.expires_at
      FROM ${approvalRequests} r CROSS JOIN unnest(${`{${percents.join(",")}}`}::int[]) AS p(point)
      WHERE r.status IN ('pending', 'escalated') AND r.expires_at > ${at}
        AND r.created_at + (r.expires_at - r.created_at) * (p.point / 100.0) <= ${at}
        AND ${TENANT_HEARS}
        AND NOT EXISTS (SELECT 1 FROM notification_plans n
          WHERE n.request_id = r.id AND n.kind = 'reminder' AND split_part(n.plan_key, ':', 2)::int >= p.point)
      ORDER BY r.id, p.point DESC
    ),
    locked AS (
      SELECT r.id, due.point FROM ${approvalRequests} r JOIN due ON due.id = r.id
      ORDER BY due.expires_at LIMIT ${limit}
      FOR UPDATE OF r SKIP LOCKED
    )
    INSERT INTO ${notificationPlans} (request_id, plan_key, kind)
    SELECT id, 'reminder:' || point, 'reminder' FROM locked
    ON CONFLICT (request_id, plan_key) DO NOTHING
    RETURNING id`);
  return (result.rows as { id: unknown }[]).map((row) => Number(row.id));
}

/** A notification delivery with its request and contact point (null: removed since it was planned). */
export interface NotificationToSend {
  request: ApprovalRequestRow;
  contact: ContactPointRow | null;
}

export async function loadNotification(
  db: Database,
  delivery: Pick<WebhookOutboxRow, "requestId" | "contactId">,
): Promise<NotificationToSend | undefined> {
  const [[request], contacts] = await db.batch([
    db.select().from(approvalRequests).where(eq(approvalRequests.id, delivery.requestId)),
    db
      .select()
      .from(contactPoints)
      .where(eq(contactPoints.id, delivery.contactId ?? -1)),
  ]);
  return request ? { request, contact: contacts[0] ?? null } : undefined;
}
