// Statements of the emergency operations: disable auto-approve (every approval-level row below
// manual_approve raised to it, the previous levels kept in a snapshot) and its restore, each one
// transaction that also names the actor for the policy audit trigger and writes its own audit row;
// and the runbook's database queries as one read.
import { sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { actorStatement, type PolicyActor } from "./policies.ts";

export type EmergencyActor = PolicyActor;

function auditStatement(db: Database, actor: EmergencyActor, action: string, after: Record<string, unknown>) {
  return db.execute(sql`INSERT INTO audit_events (actor, actor_key_id, action, target_type, target_id, after, request_id)
    VALUES (${actor.principalId}, ${actor.keyId}, ${action}, 'policy', 'approval_levels',
            ${JSON.stringify(after)}::jsonb, ${actor.requestId})`);
}

/** Levels that auto-approve or need less than a human manager: what "disable auto-approve" raises. */
const BELOW_MANUAL = sql`('auto_approve', 'pre_approved', 'agent_approve')`;

/**
 * Raises every approval-level row below manual_approve to manual_approve and keeps each row's
 * previous level in a new snapshot. Returns the snapshot id and the rows it changed.
 */
export async function disableAutoApprove(
  db: Database,
  actor: EmergencyActor,
  reason: string,
): Promise<{ snapshotId: number; changed: { id: number; approval_level: string }[] }> {
  const [, changedResult] = await db.batch([
    actorStatement(db, actor),
    db.execute(sql`
      WITH before AS (
        SELECT id, approval_level FROM policy_approval_levels WHERE approval_level IN ${BELOW_MANUAL} FOR UPDATE
      ),
      snapshot AS (
        INSERT INTO emergency_snapshots (operation, reason, taken_by, data)
        SELECT 'disable_auto_approve', ${reason}, ${actor.principalId},
               coalesce(jsonb_agg(jsonb_build_object('id', id, 'approval_level', approval_level) ORDER BY id), '[]')
        FROM before
        RETURNING id
      ),
      raised AS (
        UPDATE policy_approval_levels p SET approval_level = 'manual_approve', updated_at = now()
        FROM before WHERE p.id = before.id RETURNING p.id
      )
      SELECT (SELECT id FROM snapshot) AS snapshot_id,
             coalesce((SELECT jsonb_agg(jsonb_build_object('id', id, 'approval_level', approval_level) ORDER BY id) FROM before), '[]') AS changed`),
    auditStatement(db, actor, "emergency.disable_auto_approve", { reason }),
  ]);
  const [row] = changedResult.rows as { snapshot_id: unknown; changed: unknown }[];
  const changed = (typeof row?.changed === "string" ? JSON.parse(row.changed) : (row?.changed ?? [])) as {
    id: number;
    approval_level: string;
  }[];
  return { snapshotId: Number(row?.snapshot_id), changed };
}

/**
 * Puts back the levels of the latest unrestored disable_auto_approve snapshot, on the rows that still
 * hold manual_approve (a row changed since by someone else is theirs), and closes the snapshot.
 * Returns what it restored, or undefined when there is nothing to restore.
 */
export async function restoreAutoApprove(
  db: Database,
  actor: EmergencyActor,
  reason: string,
): Promise<{ snapshotId: number; restored: { id: number; approval_level: string }[] } | undefined> {
  const [, result] = await db.batch([
    actorStatement(db, actor),
    db.execute(sql`
      WITH snap AS (
        SELECT id, data FROM emergency_snapshots
        WHERE operation = 'disable_auto_approve' AND restored_at IS NULL
        ORDER BY id DESC LIMIT 1 FOR UPDATE
      ),
      closed AS (
        UPDATE emergency_snapshots e SET restored_at = now(), restored_by = ${actor.principalId}
        FROM snap WHERE e.id = snap.id RETURNING e.id
      ),
      restored AS (
        UPDATE policy_approval_levels p SET approval_level = s.approval_level, updated_at = now()
        FROM snap, jsonb_to_recordset(snap.data) AS s(id bigint, approval_level text)
        WHERE p.id = s.id AND p.approval_level = 'manual_approve'
        RETURNING p.id, s.approval_level
      )
      SELECT (SELECT id FROM closed) AS snapshot_id,
             coalesce((SELECT jsonb_agg(jsonb_build_object('id', id, 'approval_level', approval_level) ORDER BY id) FROM restored), '[]') AS restored`),
    auditStatement(db, actor, "emergency.restore_auto_approve", { reason }),
  ]);
  const [row] = result.rows as { snapshot_id: unknown; restored: unknown }[];
  if (row?.snapshot_id === null || row?.snapshot_id === undefined) return undefined;
  const restored = (typeof row.restored === "string" ? JSON.parse(row.restored) : row.restored) as {
    id: number;
    approval_level: string;
  }[];
  return { snapshotId: Number(row.snapshot_id), restored };
}

export interface DatabaseStats {
  byStatus: Record<string, number>;
  recent: Record<string, unknown>[];
  tableSize: string;
  indexes: string[];
}

/** The runbook's database queries (status distribution, recent requests with history, size, indexes), one round trip. */
export async function readStats(db: Database, recentLimit: number): Promise<DatabaseStats> {
  const result = await db.execute(sql`
    SELECT
      (SELECT coalesce(json_object_agg(status, n), '{}') FROM
        (SELECT status, count(*) AS n FROM approval_requests GROUP BY status) s) AS by_status,
      (SELECT coalesce(json_agg(r ORDER BY r.created_at DESC), '[]') FROM
        (SELECT id, status, tenant_id, skill_id, status_history_json, created_at FROM approval_requests
          ORDER BY created_at DESC LIMIT ${recentLimit}) r) AS recent,
      pg_size_pretty(pg_total_relation_size('approval_requests')) AS table_size,
      (SELECT coalesce(json_agg(indexname ORDER BY indexname), '[]') FROM pg_indexes WHERE tablename = 'approval_requests') AS indexes`);
  const [row] = result.rows as Record<string, unknown>[];
  const parse = <T>(value: unknown, fallback: T): T =>
    (typeof value === "string" ? JSON.parse(value) : (value ?? fallback)) as T;
  return {
    byStatus: Object.fromEntries(
      Object.entries(parse<Record<string, unknown>>(row?.by_status, {})).map(([k, v]) => [k, Number(v)]),
    ),
    recent: parse<Record<string, unknown>[]>(row?.recent, []),
    tableSize: String(row?.table_size ?? ""),
    indexes: parse<string[]>(row?.indexes, []),
  };
}
