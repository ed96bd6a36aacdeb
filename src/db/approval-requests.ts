// Statements on approval requests: create (one round trip, idempotent), read and list.
//
// Create carries the policy-set version the request was judged by and only inserts if that is still
// the current version, and only while the budget outcomes it was judged by still hold against the
// spend to date (else the service re-reads the policy and retries). The same statement writes
// the created event to the outbox, writes the notification plan of a request that waits for people, adds an auto-approved request's cost to the spend ledger, and
// settles Idempotency-Key retries: a second insert with the same key inserts nothing and returns the
// first row.
import { and, desc, eq, gte, inArray, lt, or, type SQL, sql } from "drizzle-orm";
import type { SpendAssumption } from "../domain/evaluation.ts";
import { type DecisionOutcome, decisionOutcome } from "../domain/outcome.ts";
import { type ApprovalStatus, WEBHOOK_EVENTS } from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import { executeCompiled } from "./compiled.ts";
import { SPEND_COLUMNS, spendToDateOf } from "./policy-state.ts";
import { columnsAndPlaceholders, rowFromRaw } from "./raw.ts";
import { type ApprovalRequestRow, approvalRequests } from "./schema.ts";
import {
  deliveryIdsOf,
  ledgerInsert,
  notificationKindOf,
  outboxInsert,
  planIdOf,
  planInsert,
} from "./transitions.ts";

export type InsertOutcome =
  | { outcome: "created"; row: ApprovalRequestRow; deliveryIds: number[]; planIds: number[] }
  | { outcome: "existing"; row: ApprovalRequestRow }
  /** Nothing visible: policy changed since it was read, or a concurrent retry has not committed yet. */
  | { outcome: "retry" };

/** An auto-approved request is decided as it is filed: its created event carries the outcome. */
function autoApproval(row: typeof approvalRequests.$inferInsert, at: Date): DecisionOutcome | undefined {
  if (row.status !== "auto_approved") return undefined;
  return decisionOutcome({
    status: row.status,
    statusHistoryJson: row.statusHistoryJson ?? [],
    approvalsJson: row.approvalsJson ?? [],
    requiredLevel: row.requiredLevel,
    requiredApprovals: row.requiredApprovals ?? 1,
    requestedBy: row.requestedBy,
    requesterPrincipalId: row.requesterPrincipalId ?? null,
    resolvedAt: row.resolvedAt ?? at,
  });
}

export async function insertRequest(
  db: Database,
  row: typeof approvalRequests.$inferInsert,
  policyVersion: number,
  actor: string,
  spendAssumptions: SpendAssumption[] = [],
): Promise<InsertOutcome> {
  // Compiled once per shape and isolate (db/compiled.ts): every filing runs it, and building it with
  // drizzle cost more worker CPU than the rest of the filing. The shape is what changes the text.
  const given = columnsAndPlaceholders(approvalRequests, row, "row_");
  const at = row.createdAt instanceof Date ? row.createdAt : new Date();
  const outcome = autoApproval(row, at);
  const byIdempotencyKey = Boolean(row.idempotencyKey && row.createdByKeyId);
  const withAgent = Boolean(row.agentId);
  const kind = notificationKindOf(row.status as ApprovalStatus);
  const shape = [
    "insert-request",
    given.shape,
    byIdempotencyKey ? "idempotent" : "",
    spendAssumptions.map(({ spend }) => spend).join(","),
    withAgent ? "agent" : "",
    kind ?? "",
    outcome ? "decided" : "",
  ].join("|");
  const build = (): SQL => {
    const { columns, values } = given.columns();
    const existing: SQL = byIdempotencyKey
      ? sql`SELECT 'existing' AS outcome, r.*, '{}'::bigint[] AS delivery_ids, NULL::bigint AS plan_id
            FROM ${approvalRequests} r
            WHERE r.created_by_key_id = ${sql.placeholder("key_id")}
              AND r.idempotency_key = ${sql.placeholder("idempotency_key")}
              AND NOT EXISTS (SELECT 1 FROM inserted)`
      : sql`SELECT 'existing' AS outcome, r.*, '{}'::bigint[] AS delivery_ids, NULL::bigint AS plan_id
            FROM ${approvalRequests} r WHERE false`;
    // The budget outcomes the plan rests on, checked against the spend to date in this statement.
    const spendHolds = spendAssumptions.length
      ? sql.join(
          spendAssumptions.map(
            ({ spend }, i) =>
              sql`(${sql.identifier(SPEND_COLUMNS[spend])} > ${sql.placeholder(`threshold_${i}`)}::bigint) = ${sql.placeholder(`over_${i}`)}::boolean`,
          ),
          sql` AND `,
        )
      : sql`true`;
    const spendSource = spendAssumptions.length
      ? spendToDateOf(db, sql.placeholder("tenant"), withAgent ? sql.placeholder("agent") : null)
      : sql`SELECT 1`;
    const atText = sql.placeholder("at");
    return sql`
    WITH current_policy AS (SELECT 1 FROM policy_set_version WHERE version = ${sql.placeholder("policy_version")}),
    spend_now AS (${spendSource}),
    judged_spend AS (SELECT 1 FROM spend_now WHERE ${spendHolds}),
    inserted AS (
      INSERT INTO ${approvalRequests} ${columns}
      SELECT ${values} FROM current_policy, judged_spend
      ON CONFLICT (created_by_key_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING *
    ),
    outbox AS (${outboxInsert(sql`inserted`, WEBHOOK_EVENTS.created, sql.placeholder("actor"), "created", atText, outcome ? sql.placeholder("outcome") : undefined)}),
    ledger AS (${ledgerInsert(sql`inserted`, "auto_approved", "auto_approval", atText)}),
    plans AS (${planInsert(sql`inserted`, kind)})
    SELECT 'created' AS outcome, inserted.*,
      coalesce((SELECT array_agg(o.id ORDER BY o.id) FROM outbox o), '{}') AS delivery_ids,
      (SELECT p.id FROM plans p) AS plan_id FROM inserted
    UNION ALL ${existing}`;
  };
  const result = await executeCompiled(db, shape, build, {
    ...given.bound,
    policy_version: policyVersion,
    key_id: row.createdByKeyId,
    idempotency_key: row.idempotencyKey,
    tenant: row.tenantId,
    agent: row.agentId,
    actor,
    at: at.toISOString(),
    outcome: outcome ? JSON.stringify({ outcome }) : undefined,
    ...Object.fromEntries(
      spendAssumptions.flatMap(({ threshold, over }, i) => [
        [`threshold_${i}`, threshold],
        [`over_${i}`, over],
      ]),
    ),
  });
  const [raw] = result.rows as Record<string, unknown>[];
  if (!raw) return { outcome: "retry" };
  return raw.outcome === "created"
    ? {
        outcome: "created",
        row: rowFromRaw<ApprovalRequestRow>(approvalRequests, raw),
        deliveryIds: deliveryIdsOf(raw),
        planIds: planIdOf(raw),
      }
    : { outcome: "existing", row: rowFromRaw<ApprovalRequestRow>(approvalRequests, raw) };
}

/** The request a key filed under an Idempotency-Key, if any. */
export async function findByIdempotencyKey(
  db: Database,
  keyId: string,
  idempotencyKey: string,
): Promise<ApprovalRequestRow | undefined> {
  const [row] = await db
    .select()
    .from(approvalRequests)
    .where(
      and(eq(approvalRequests.createdByKeyId, keyId), eq(approvalRequests.idempotencyKey, idempotencyKey)),
    );
  return row;
}

export async function loadRequest(db: Database, id: string): Promise<ApprovalRequestRow | undefined> {
  // Every read and wait of a request runs it: compiled once per isolate (db/compiled.ts).
  const { rows } = await executeCompiled(
    db,
    "load-request",
    () => sql`SELECT * FROM ${approvalRequests} WHERE id = ${sql.placeholder("id")}`,
    { id },
  );
  const [raw] = rows;
  return raw ? rowFromRaw<ApprovalRequestRow>(approvalRequests, raw) : undefined;
}

export interface RequestFilter {
  tenantId?: string | undefined;
  statuses?: readonly ApprovalStatus[] | undefined;
  skillId?: string | undefined;
  agentId?: string | undefined;
  requestedBy?: string | undefined;
  createdAfter?: Date | undefined;
  createdBefore?: Date | undefined;
}

/** The WHERE clause of a filter (every given field must match); shared by list and bulk reject. */
export function requestFilter(filter: RequestFilter): SQL {
  const conditions = [
    filter.tenantId !== undefined ? eq(approvalRequests.tenantId, filter.tenantId) : undefined,
    filter.statuses?.length ? inArray(approvalRequests.status, [...filter.statuses]) : undefined,
    filter.skillId !== undefined ? eq(approvalRequests.skillId, filter.skillId) : undefined,
    filter.agentId !== undefined ? eq(approvalRequests.agentId, filter.agentId) : undefined,
    filter.requestedBy !== undefined ? eq(approvalRequests.requestedBy, filter.requestedBy) : undefined,
    filter.createdAfter ? gte(approvalRequests.createdAt, filter.createdAfter) : undefined,
    filter.createdBefore ? lt(approvalRequests.createdAt, filter.createdBefore) : undefined,
  ];
  return and(...conditions) ?? sql`true`;
}

/** A position in the newest-first listing: strictly older than this (created_at, id). */
export interface ListPosition {
  createdAt: Date;
  id: string;
}

/** How many of the inbox's requests one read returns at most. */
export const INBOX_LIMIT = 200;

/**
 * Requests an approver may decide, soonest deadline first: open, matching the filter, needing no more
 * than `maxLevel`. With the count of each status in the same scope, in one round trip.
 */
export async function listInbox(
  db: Database,
  filter: RequestFilter,
  maxLevel: number,
  /** Principals the approver stands in for: their requests are listed at any level. */
  waitingFor: readonly string[] = [],
): Promise<{ rows: ApprovalRequestRow[]; counts: { status: ApprovalStatus; count: number }[] }> {
  const atLevel = sql`${approvalRequests.requiredLevel} <= ${maxLevel}`;
  const where = and(
    requestFilter(filter),
    // escalate_to is the policy's text as written: folded here roughly, exactly by the service's check.
    waitingFor.length > 0
      ? or(atLevel, inArray(sql`lower(btrim(${approvalRequests.escalateTo}))`, [...waitingFor]))
      : atLevel,
  );
  const [rows, counts] = await db.batch([
    db
      .select()
      .from(approvalRequests)
      .where(where)
      .orderBy(approvalRequests.expiresAt, approvalRequests.id)
      .limit(INBOX_LIMIT),
    db
      .select({ status: approvalRequests.status, count: sql<number>`count(*)::int` })
      .from(approvalRequests)
      .where(where)
      .groupBy(approvalRequests.status),
  ]);
  return { rows, counts };
}

export async function listRequests(
  db: Database,
  filter: RequestFilter,
  page: { limit: number; offset: number; after?: ListPosition | undefined },
): Promise<ApprovalRequestRow[]> {
  const after = page.after;
  const position = after
    ? or(
        lt(approvalRequests.createdAt, after.createdAt),
        and(eq(approvalRequests.createdAt, after.createdAt), lt(approvalRequests.id, after.id)),
      )
    : undefined;
  return db
    .select()
    .from(approvalRequests)
    .where(and(requestFilter(filter), position))
    .orderBy(desc(approvalRequests.createdAt), desc(approvalRequests.id))
    .limit(page.limit)
    .offset(after ? 0 : page.offset);
}
