// Delegation rows and their audit events (issue 25): create and revoke, each audited in the same
// statement; the reads the rules need (the graph around a new delegation, the chains ending at a
// decider or starting at a principal), each one round trip.
import { and, desc, eq, inArray, isNull, or, type Placeholder, type SQL, sql } from "drizzle-orm";
import { MAX_CHAIN_DEPTH } from "../domain/delegation.ts";
import type { Database } from "./client.ts";
import { executeCompiledBatch } from "./compiled.ts";
import { columnsAndValues, rowFromRaw } from "./raw.ts";
import {
  type ApprovalRequestRow,
  approvalRequests,
  auditEvents,
  type DelegationRow,
  delegations,
} from "./schema.ts";

/** The public view of a delegation (the API's answer; the audit rows carry it too). */
export interface DelegationSummary {
  id: number;
  principal_id: string;
  delegate_id: string;
  tenant_id: string | null;
  starts_at: string;
  ends_at: string;
  reason: string | null;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

export function toDelegationSummary(row: DelegationRow): DelegationSummary {
  return {
    id: row.id,
    principal_id: row.principalId,
    delegate_id: row.delegateId,
    tenant_id: row.tenantId,
    starts_at: row.startsAt.toISOString(),
    ends_at: row.endsAt.toISOString(),
    reason: row.reason,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    revoked_at: row.revokedAt?.toISOString() ?? null,
    revoked_by: row.revokedBy,
  };
}

/** Who acts, as the audit trail names them. */
export interface DelegationActor {
  principalId: string;
  /** "bootstrap" or a key id. */
  keyId: string;
  requestId?: string | null | undefined;
}

// Creations take one transaction-scoped lock, so a creation's re-check (no delegation newer than the
// ones its rules were checked against) cannot race another creation. Creations are rare.
const CREATION_LOCK = sql`SELECT pg_advisory_xact_lock(hashtextextended('delegations.create', 0))`;

/** Open (in force or to come) at `now`. */
const openAt = (now: Date) =>
  sql`${delegations.revokedAt} IS NULL AND ${delegations.endsAt} > ${now.toISOString()}::timestamptz`;

/** In force at `at`: started, not ended, not revoked by then. */
const activeAt = (at: Date | Placeholder) => {
  const t = sql`${at instanceof Date ? at.toISOString() : at}::timestamptz`;
  return sql`${delegations.startsAt} <= ${t} AND ${delegations.endsAt} > ${t}
    AND (${delegations.revokedAt} IS NULL OR ${delegations.revokedAt} > ${t})`;
};

/** Bounds every graph read: a principal may be named delegate by many. */
const GRAPH_LIMIT = 1000;

/**
 * What a new delegation's rules are checked against, in one round trip: the principal's open
 * delegations, every open delegation reachable from the delegate (for the cycle check), the newest
 * delegation id, and the principals whose newer delegations would change the check (the insert's
 * guard: the principal itself and every principal the delegate reaches).
 */
export async function readCreationGraph(
  db: Database,
  principalId: string,
  delegateId: string,
  now: Date,
): Promise<{ edges: DelegationRow[]; newestId: number; watched: string[] }> {
  // The newest id is read first: each statement of a batch sees its own snapshot (READ COMMITTED), so
  // read last it could include a delegation committed after the graph was read, and the insert's guard
  // would then pass on a graph that lacks it (two creations closing a cycle both won).
  const [newest, own, reachable] = await db.batch([
    db.select({ id: sql<number>`coalesce(max(${delegations.id}), 0)::bigint` }).from(delegations),
    db
      .select()
      .from(delegations)
      .where(and(eq(delegations.principalId, principalId), openAt(now)))
      .limit(GRAPH_LIMIT),
    db.execute(sql`
      WITH RECURSIVE open_edges AS (
        SELECT * FROM ${delegations} WHERE ${openAt(now)}
      ), reach(principal) AS (
        SELECT ${delegateId}::text
        UNION
        SELECT e.delegate_id FROM open_edges e JOIN reach r ON e.principal_id = r.principal
      )
      SELECT e.* FROM open_edges e JOIN reach r ON e.principal_id = r.principal LIMIT ${GRAPH_LIMIT}`),
  ]);
  const more = (reachable.rows as Record<string, unknown>[]).map((raw) =>
    rowFromRaw<DelegationRow>(delegations, raw),
  );
  // A delegation can be both the principal's own and reachable from the delegate: count it once.
  const edges = [...new Map([...own, ...more].map((row) => [row.id, row])).values()];
  // Only delegations of these principals feed the rules: the principal's own (limits, overlaps) and
  // those of every principal the delegate reaches (a cycle). Newer ones elsewhere change nothing here.
  const watched = [...new Set([principalId, delegateId, ...more.map((row) => row.delegateId)])];
  return { edges, newestId: Number(newest[0]?.id ?? 0), watched };
}

export type NewDelegationRow = Omit<
  typeof delegations.$inferInsert,
  "id" | "createdAt" | "revokedAt" | "revokedBy"
>;

/**
 * Inserts a delegation and its audit event in one statement, under the creation lock, only if no
 * delegation of a `watched` principal is newer than `newestId` (the rules were checked against that
 * state; unrelated creations do not make it retry). undefined: a creation that matters came first;
 * re-read and check again.
 */
export async function insertDelegation(
  db: Database,
  row: NewDelegationRow,
  guard: { newestId: number; watched: string[] },
  actor: DelegationActor,
): Promise<DelegationRow | undefined> {
  const { columns, values } = columnsAndValues(delegations, row);
  const [, inserted] = await db.batch([
    db.execute(CREATION_LOCK),
    db.execute(sql`
      WITH inserted AS (
        INSERT INTO ${delegations} ${columns}
        SELECT ${values}
         WHERE NOT EXISTS (SELECT 1 FROM ${delegations}
                           WHERE id > ${guard.newestId} AND ${inArray(delegations.principalId, guard.watched)})
        RETURNING *
      ), audited AS (
        INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, after, request_id)
        SELECT ${actor.principalId}, ${actor.keyId}, 'delegation.create', 'delegation', id::text,
               jsonb_build_object('id', id, 'principal_id', principal_id, 'delegate_id', delegate_id,
                 'tenant_id', tenant_id, 'starts_at', starts_at, 'ends_at', ends_at, 'reason', reason,
                 'created_by', created_by),
               ${actor.requestId ?? null}
          FROM inserted
      )
      SELECT * FROM inserted`),
  ]);
  const [raw] = inserted.rows as Record<string, unknown>[];
  return raw ? rowFromRaw<DelegationRow>(delegations, raw) : undefined;
}

export async function findDelegation(db: Database, id: number): Promise<DelegationRow | undefined> {
  const [row] = await db.select().from(delegations).where(eq(delegations.id, id));
  return row;
}

/**
 * Revokes (idempotently: revoking twice audits once) and reads the delegation as it stands, in one
 * round trip. revoked_at is the transaction's now(): from that moment it has no effect.
 */
export async function revokeDelegation(
  db: Database,
  id: number,
  actor: DelegationActor,
): Promise<DelegationRow | undefined> {
  const [, , [row]] = await db.batch([
    db.execute(sql`UPDATE ${delegations} SET revoked_at = now(), revoked_by = ${actor.principalId}
      WHERE id = ${id} AND revoked_at IS NULL`),
    db.execute(sql`
      INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, before, after, request_id)
      SELECT ${actor.principalId}, ${actor.keyId}, 'delegation.revoke', 'delegation', id::text,
             jsonb_build_object('revoked_at', NULL, 'tenant_id', tenant_id),
             jsonb_build_object('revoked_at', revoked_at, 'revoked_by', revoked_by, 'tenant_id', tenant_id),
             ${actor.requestId ?? null}
        FROM ${delegations} WHERE id = ${id} AND revoked_at = now()`),
    db.select().from(delegations).where(eq(delegations.id, id)),
  ]);
  return row;
}

export interface DelegationFilter {
  /** The caller's principal (domain/delegation.ts delegationVisible, as one condition). */
  caller: string;
  /** Only those naming the caller as principal or delegate (an approver's view). */
  partyOnly: boolean;
  /** A tenant-scoped key: delegations of its tenant, and every-tenant ones it is party to. */
  scopeTenant?: string | undefined;
  principalId?: string | undefined;
  delegateId?: string | undefined;
  activeAt?: Date | undefined;
}

function filterWhere(filter: DelegationFilter): SQL | undefined {
  const isParty = or(eq(delegations.principalId, filter.caller), eq(delegations.delegateId, filter.caller));
  return and(
    filter.partyOnly ? isParty : undefined,
    filter.scopeTenant
      ? or(eq(delegations.tenantId, filter.scopeTenant), and(isNull(delegations.tenantId), isParty))
      : undefined,
    filter.principalId ? eq(delegations.principalId, filter.principalId) : undefined,
    filter.delegateId ? eq(delegations.delegateId, filter.delegateId) : undefined,
    filter.activeAt ? activeAt(filter.activeAt) : undefined,
  );
}

export async function listDelegations(
  db: Database,
  filter: DelegationFilter,
  page: { limit: number; offset: number },
): Promise<DelegationRow[]> {
  return db
    .select()
    .from(delegations)
    .where(filterWhere(filter))
    .orderBy(desc(delegations.createdAt), desc(delegations.id))
    .limit(page.limit)
    .offset(page.offset);
}

/**
 * The delegations in force at `at` on a chain of at most MAX_CHAIN_DEPTH ending at `delegate`
 * (whom it stands in for) or starting at `principal` (who stands in for it). The domain walks them.
 */
function chainEdges(end: "delegate" | "principal", id: string | Placeholder, at: Date | Placeholder): SQL {
  const [near, far] =
    end === "delegate"
      ? [delegations.delegateId, delegations.principalId]
      : [delegations.principalId, delegations.delegateId];
  // Depth 2 is a subquery of depth 1: MAX_CHAIN_DEPTH is 2 (the domain bounds the walk itself).
  const depth2 =
    MAX_CHAIN_DEPTH >= 2
      ? sql` OR ${near} IN (SELECT ${far} FROM ${delegations} WHERE ${near} = ${id} AND ${activeAt(at)})`
      : sql``;
  return sql`${activeAt(at)} AND (${near} = ${id}${depth2})`;
}

/** The chains ending at `delegate` in force at `at` (whom it may stand in for). */
export async function edgesInto(db: Database, delegate: string, at: Date): Promise<DelegationRow[]> {
  return db
    .select()
    .from(delegations)
    .where(chainEdges("delegate", delegate, at))
    .limit(GRAPH_LIMIT);
}

/** The chains starting at `principal` in force at `at` (who stands in for it). */
export async function edgesFrom(db: Database, principal: string, at: Date): Promise<DelegationRow[]> {
  return db
    .select()
    .from(delegations)
    .where(chainEdges("principal", principal, at))
    .limit(GRAPH_LIMIT);
}

/** A request and the delegations the decider may stand in by, in one round trip (a decision's read). */
export async function loadRequestWithDelegations(
  db: Database,
  requestId: string,
  decider: string,
  at: Date,
): Promise<{ row: ApprovalRequestRow | undefined; edges: DelegationRow[] }> {
  // Every decision runs it: compiled once per isolate (db/compiled.ts), bound per call.
  const [requests, edges] = await executeCompiledBatch(
    db,
    [
      [
        "decision-read:request",
        () => sql`SELECT * FROM ${approvalRequests} WHERE id = ${sql.placeholder("id")}`,
      ],
      [
        "decision-read:delegations",
        () =>
          sql`SELECT * FROM ${delegations}
            WHERE ${chainEdges("delegate", sql.placeholder("decider"), sql.placeholder("at"))} LIMIT ${GRAPH_LIMIT}`,
      ],
    ],
    [{ id: requestId }, { decider, at: at.toISOString() }],
  );
  const [raw] = requests ?? [];
  return {
    row: raw ? rowFromRaw<ApprovalRequestRow>(approvalRequests, raw) : undefined,
    edges: (edges ?? []).map((edge) => rowFromRaw<DelegationRow>(delegations, edge)),
  };
}
