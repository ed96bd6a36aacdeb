// The one place request status changes are written. A transition is a single statement: it moves
// every matching row whose status allows it, appends the history entry, writes the webhook event to
// the outbox for rows that have a webhook_url, adds approved requests' cost to the spend ledger, and
// writes the notification plan when the change tells people something,
// all or nothing. Single requests pass `version = n` in `where` (a compare-and-swap: a lost race
// changes no row); bulk operations and the cron pass a filter. The state machine's ALLOWED_FROM is
// enforced in the statement itself.
import { is, Placeholder, SQL, sql } from "drizzle-orm";
import { ALLOWED_FROM, type Change, OPEN_STATUSES } from "../domain/approvals.ts";
import { type DecisionOutcome, type OutcomeSource, outcomeOfChange } from "../domain/outcome.ts";
import {
  type ApprovalEntry,
  type ApprovalStatus,
  type NotificationKind,
  WEBHOOK_EVENTS,
  type WebhookEvent,
} from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import { executeCompiled } from "./compiled.ts";
import { rowFromRaw } from "./raw.ts";
import { type IssuedReceipt, receiptAssignments } from "./receipts.ts";
import { type ApprovalRequestRow, approvalRequests } from "./schema.ts";

/** One request at the version it was read at: a compare-and-swap (a lost race changes no row). */
export interface RequestAtVersion {
  id: string;
  version: number;
}

export interface Transition {
  /** Rows to change, besides the status rule: a filter, or one request at a version. */
  where: SQL | RequestAtVersion;
  /** New status, or null when only approvals change (approval_added). */
  toStatus: ApprovalStatus | null;
  actor: string;
  /** Text, or a per-row SQL expression over the row before the change (e.g. who it escalates to). */
  reason: string | null | SQL;
  event: WebhookEvent;
  /** Further `column = expression` assignments (the escalation job's reassignment and next deadline). */
  assignments?: SQL[];
  /** Replacement approvals_json and current_level (single-request approve/reject). */
  approvals?: ApprovalEntry[];
  currentLevel?: number;
  /** The signed receipt of a final approval: stored on the request, carried by its webhook event. */
  receipt?: IssuedReceipt | null;
  /**
   * The request as read, for a single request's compare-and-swap; null for a filter over many rows
   * (expiry, the bulk reject). The decided event's `outcome` (domain/outcome.ts) is computed from it.
   */
  before: OutcomeSource | null;
  /** An approver's edit of the payload (issue 27): the approved payload, required level and cost it sets. */
  payloadChange?: Change["payloadChange"];
  at: Date;
}

const DECISION_EVENTS: WebhookEvent[] = [
  WEBHOOK_EVENTS.approved,
  WEBHOOK_EVENTS.rejected,
  WEBHOOK_EVENTS.approvalAdded,
  WEBHOOK_EVENTS.noteAdded,
];

/** Per changed row, the ids of the outbox rows (deliveries) the statement wrote, in order. */
export const DELIVERY_IDS = sql`coalesce((SELECT array_agg(o.id ORDER BY o.id) FROM outbox o WHERE o.request_id = changed.id), '{}') AS delivery_ids`;
/** Per changed row, the notification plan the statement wrote (NULL: none). */
export const PLAN_ID = sql`(SELECT p.id FROM plans p WHERE p.request_id = changed.id) AS plan_id`;

/**
 * What a transition to `status` (by `event`) tells people: escalations and final outcomes (auto-approval
 * tells no one), and an approval of a quorum counted (`progress`: only Slack acts on it, issue 26).
 */
export function notificationKindOf(
  status: ApprovalStatus | null,
  event: WebhookEvent | null = null,
): NotificationKind | null {
  if (status === null) return event === WEBHOOK_EVENTS.approvalAdded ? "progress" : null;
  if (status === "escalated") return "escalated";
  if (status === "pending") return "approval_needed";
  if (status !== "auto_approved" && TERMINAL.includes(status)) return "decided";
  return null;
}

/**
 * Someone could be told about row `r`'s tenant: a contact point reaching it, its Slack workspace, or
 * a browser taking push notifications (issue 31) for a principal whose live key covers the tenant.
 */
export const TENANT_HEARS = sql`(EXISTS (SELECT 1 FROM contact_points c WHERE c.tenant_id = r.tenant_id OR c.tenant_id IS NULL)
        OR EXISTS (SELECT 1 FROM slack_workspaces s WHERE s.tenant_id = r.tenant_id)
        OR EXISTS (SELECT 1 FROM push_subscriptions p JOIN api_keys k ON k.principal_id = p.principal_id
          WHERE k.revoked_at IS NULL AND (k.tenant_id IS NULL OR k.tenant_id = r.tenant_id)))`;
/** Only a Slack workspace acts on progress. */
const TENANT_HAS_SLACK = sql`EXISTS (SELECT 1 FROM slack_workspaces s WHERE s.tenant_id = r.tenant_id)`;

/**
 * Writes the notification plan of `kind` for every row of `rows` (a CTE) whose tenant anyone could be
 * told about (a contact point for the tenant, or one of a principal's for every tenant, or the tenant's
 * Slack workspace; for `progress`, the workspace only): one plan per request version, planned into
 * deliveries after the commit (services/notifications/planner.ts). Without contact points or workspaces
 * it writes nothing, so a deployment that notifies no one pays two index probes.
 */
export function planInsert(rows: SQL, kind: NotificationKind | null): SQL {
  if (kind === null) return sql`SELECT NULL::bigint AS id, NULL::text AS request_id WHERE false`;
  return sql`
      INSERT INTO notification_plans (request_id, plan_key, kind)
      SELECT r.id, 'v' || r.version, ${kind}::text FROM ${rows} r
      WHERE ${kind === "progress" ? TENANT_HAS_SLACK : TENANT_HEARS}
      ON CONFLICT (request_id, plan_key) DO NOTHING
      RETURNING id, request_id`;
}

const TERMINAL: ApprovalStatus[] = ["approved", "rejected", "expired", "cancelled", "auto_approved"];

function quoted(statuses: readonly string[]): SQL {
  return sql.join(
    statuses.map((status) => sql`${status}`),
    sql`, `,
  );
}

/** A time as ISO text, or the placeholder standing for it in a compiled statement (db/compiled.ts). */
function isoText(at: Date | Placeholder): string | Placeholder {
  return at instanceof Date ? at.toISOString() : at;
}

/** Queues the webhook event for every row of `rows` (a CTE) that has a webhook_url. */
export function outboxInsert(
  rows: SQL,
  event: WebhookEvent,
  actor: string | Placeholder,
  reason: string | null | SQL | Placeholder,
  at: Date | Placeholder,
  /** The decision's outcome; in a compiled statement, a placeholder for `JSON.stringify({ outcome })`. */
  outcome?: DecisionOutcome | Placeholder,
): SQL {
  // The approver's entry (who, level, notes) travels with the events an approver caused; a receipt
  // (issue 27) with the event of the approval that issued it, the key absent otherwise; the decision's
  // outcome with the event that decided, computed before the statement; an edited payload with every
  // event while it stands. Each key is absent otherwise.
  const decision = DECISION_EVENTS.includes(event) ? sql`approvals_json->-1` : sql`NULL::jsonb`;
  const decided = !outcome
    ? sql``
    : is(outcome, Placeholder)
      ? sql` || ${outcome}::jsonb`
      : sql` || ${JSON.stringify({ outcome })}::jsonb`;
  return sql`
      INSERT INTO webhook_outbox (request_id, event, payload)
      SELECT id, ${event}::text, jsonb_build_object(
        'event', ${event}::text, 'request_id', id, 'correlation_id', correlation_id, 'status', status,
        'tenant_id', tenant_id, 'skill_id', skill_id, 'agent_id', agent_id,
        'required_level', required_level, 'current_level', current_level, 'escalate_to', escalate_to,
        'actor', ${actor}::text, 'reason', ${reason}::text, 'decision', ${decision},
        'occurred_at', ${isoText(at)}::text)
        || CASE WHEN receipt_jws IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('receipt', receipt_jws) END${decided}
        || CASE WHEN approved_payload_hash IS NULL THEN '{}'::jsonb
           ELSE jsonb_build_object('approved_payload', approved_payload, 'approved_payload_hash', approved_payload_hash) END
      FROM ${rows} WHERE webhook_url IS NOT NULL
      RETURNING id, request_id`;
}

/** Adds the estimated cost of every row of `rows` now in `status` to the spend ledger, once per request. */
export function ledgerInsert(
  rows: SQL,
  status: ApprovalStatus,
  source: "approval" | "auto_approval",
  at: Date | Placeholder,
): SQL {
  return sql`
      INSERT INTO spend_ledger (tenant_id, agent_id, skill_id, amount_cents, source, reference, occurred_at)
      SELECT tenant_id, agent_id, skill_id, estimated_cost_cents, ${source}::text, id, ${isoText(at)}::timestamptz
      FROM ${rows} WHERE status = ${status}::text
      ON CONFLICT DO NOTHING`;
}

/** The columns an edit on approve sets; the filed payload and its hash are never written. */
function payloadChangeAssignments(change: NonNullable<Change["payloadChange"]>, bind: Bind): SQL[] {
  const approved = change.approved;
  return [
    approved
      ? sql`approved_payload = ${bind("approved_payload", JSON.stringify(approved.payload))}::jsonb,
            approved_payload_hash = ${bind("approved_payload_hash", approved.hash)}::text`
      : sql`approved_payload = NULL, approved_payload_hash = NULL`,
    sql`required_level = ${bind("required_level", change.requiredLevel)}::smallint`,
    sql`estimated_cost_cents = ${bind("estimated_cost_cents", change.costCents)}::integer`,
  ];
}

/**
 * How a value enters the statement: as itself, or (compiling, db/compiled.ts) as a placeholder whose
 * value is recorded for this call.
 */
type Bind = (name: string, value: unknown) => unknown;
const asValue: Bind = (_name, value) => value;

export function transitionStatement(t: Transition, bind: Bind = asValue): SQL {
  const from = t.toStatus === null ? OPEN_STATUSES : ALLOWED_FROM[t.toStatus];
  const timestamp = bind("at", t.at.toISOString());
  const terminal = t.toStatus !== null && TERMINAL.includes(t.toStatus);
  const reason =
    t.reason instanceof SQL ? sql`(${t.reason})` : (bind("reason", t.reason) as string | null | Placeholder);
  const actor = bind("actor", t.actor) as string | Placeholder;
  const where = is(t.where, SQL)
    ? t.where
    : sql`${approvalRequests.id} = ${bind("id", t.where.id)} AND ${approvalRequests.version} = ${bind("version", t.where.version)}`;
  const history =
    t.toStatus === null
      ? sql`status_history_json`
      : sql`status_history_json || jsonb_build_array(jsonb_build_object(
          'from_status', status, 'to_status', ${t.toStatus}::text, 'actor', ${actor}::text,
          'reason', ${reason}::text, 'timestamp', ${timestamp}::text))`;
  // The outbox reads the changed rows, so a per-row reason is taken from the history entry just written.
  const outboxReason =
    t.reason instanceof SQL && t.toStatus !== null ? sql`status_history_json->-1->>'reason'` : reason;
  const assignments = [
    ...(t.assignments ?? []),
    ...(t.receipt ? receiptAssignments(t.receipt, bind) : []),
    ...(t.payloadChange ? payloadChangeAssignments(t.payloadChange, bind) : []),
  ];
  const extra = assignments.length ? sql`, ${sql.join(assignments, sql`, `)}` : sql``;
  // A decided status's reason is always text; a per-row SQL reason only ever escalates.
  const outcome = outcomeOfChange(t.before, {
    toStatus: t.toStatus,
    actor: t.actor,
    reason: typeof t.reason === "string" ? t.reason : null,
    approvals: t.approvals,
    payloadChange: t.payloadChange,
    at: t.at,
  });
  // Compiling, the time and the outcome travel as placeholders like every other value.
  const compiling = bind !== asValue;
  const at = compiling ? (timestamp as Placeholder) : t.at;
  const outcomeArgument =
    outcome === undefined
      ? undefined
      : compiling
        ? (bind("outcome", JSON.stringify({ outcome })) as Placeholder)
        : outcome;
  return sql`
    WITH changed AS (
      UPDATE ${approvalRequests} SET
        status = ${t.toStatus === null ? sql`status` : sql`${t.toStatus}::text`},
        status_history_json = ${history},
        approvals_json = ${t.approvals ? sql`${bind("approvals", JSON.stringify(t.approvals))}::jsonb` : sql`approvals_json`},
        current_level = ${t.currentLevel === undefined ? sql`current_level` : sql`${bind("current_level", t.currentLevel)}::smallint`},
        resolved_at = ${terminal ? sql`${timestamp}::timestamptz` : sql`resolved_at`},
        escalated_at = ${t.toStatus === "escalated" ? sql`${timestamp}::timestamptz` : sql`escalated_at`},
        ${terminal ? sql`escalation_deadline = NULL,` : sql``}
        updated_at = ${timestamp}::timestamptz,
        version = version + 1${extra}
      WHERE (${where}) AND status IN (${quoted(from)})
      RETURNING *
    ),
    outbox AS (${outboxInsert(sql`changed`, t.event, actor, outboxReason, at, outcomeArgument)}),
    ledger AS (${ledgerInsert(sql`changed`, "approved", "approval", at)}),
    plans AS (${planInsert(sql`changed`, notificationKindOf(t.toStatus, t.event))})
    SELECT changed.*, ${DELIVERY_IDS}, ${PLAN_ID} FROM changed`;
}

/**
 * What changes a transition's text (values never do): compiled statements are cached by it. A filter
 * (`where` as SQL), a per-row reason or extra assignments are not compiled: bulk changes and the cron,
 * rare next to single decisions.
 */
export function transitionShape(t: Transition, outcome: boolean): string {
  return [
    "transition",
    t.toStatus ?? "(none)",
    t.event,
    t.approvals ? "approvals" : "",
    t.currentLevel === undefined ? "" : "level",
    t.receipt ? "receipt" : "",
    t.payloadChange ? (t.payloadChange.approved ? "edit" : "edit-reverted") : "",
    outcome ? "outcome" : "",
  ].join("|");
}

/** A single request's transition runs compiled (once per shape and isolate); any other as built. */
async function runTransition(db: Database, t: Transition): Promise<Record<string, unknown>[]> {
  if (is(t.where, SQL) || t.reason instanceof SQL || (t.assignments?.length ?? 0) > 0)
    return (await db.execute(transitionStatement(t))).rows as Record<string, unknown>[];
  // Built with placeholders on every call (cheap: what costs is turning it into text, done once).
  const values: Record<string, unknown> = {};
  const statement = transitionStatement(t, (name, value) => {
    values[name] = value;
    return sql.placeholder(name);
  });
  return (await executeCompiled(db, transitionShape(t, "outcome" in values), () => statement, values)).rows;
}

/**
 * Applies a transition; returns the rows it changed (none when a compare-and-swap lost its race), the
 * webhook deliveries it queued in the outbox and the notification plans it wrote.
 */
export async function applyTransitionWithDeliveries(
  db: Database,
  transition: Transition,
): Promise<{ rows: ApprovalRequestRow[]; deliveryIds: number[]; planIds: number[] }> {
  const raws = await runTransition(db, transition);
  return {
    rows: raws.map((raw) => rowFromRaw<ApprovalRequestRow>(approvalRequests, raw)),
    deliveryIds: raws.flatMap((raw) => deliveryIdsOf(raw)),
    planIds: raws.flatMap((raw) => planIdOf(raw)),
  };
}

/** The plan_id column of a raw row, as a list of none or one. */
export function planIdOf(raw: Record<string, unknown>): number[] {
  return raw.plan_id === null || raw.plan_id === undefined ? [] : [Number(raw.plan_id)];
}

export async function applyTransition(db: Database, transition: Transition): Promise<ApprovalRequestRow[]> {
  return (await applyTransitionWithDeliveries(db, transition)).rows;
}

/** The delivery_ids column of a raw row (Postgres bigint[] arrives as text "{1,2}" or an array). */
export function deliveryIdsOf(raw: Record<string, unknown>): number[] {
  const value = raw.delivery_ids;
  if (Array.isArray(value)) return value.map(Number);
  if (typeof value === "string") return value.replace(/[{}]/g, "").split(",").filter(Boolean).map(Number);
  return [];
}
