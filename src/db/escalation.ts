// Statements of the escalation job: which open requests are due (bounded, oldest deadline first,
// skipping rows another run holds), how an escalation step reassigns a request from the chain frozen
// on it, and the job's persisted switch and last run.
import { eq, type SQL, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { approvalRequests, auditEvents, type JobControlRow, jobControls } from "./schema.ts";

const OPEN = sql`('pending', 'escalated')`;
const CHAIN = sql`(${approvalRequests.policySnapshot}->'escalation_chain')`;

/**
 * Open requests past `expires_at`, at most `limit`, locked for this statement with SKIP LOCKED so an
 * overlapping run takes others; the outer conditions are re-checked on the row as it stands. The ids
 * are taken once, as an array (an InitPlan): as a plain `IN (subquery)` the planner may rescan the
 * LIMIT subquery for every outer row (a nested-loop semi join), and since each rescan skips the rows
 * this statement already changed, one statement would take every due row, not `limit`.
 */
export function dueForExpiry(now: Date, limit: number): SQL {
  const at = sql`${now.toISOString()}::timestamptz`;
  return sql`${approvalRequests.id} = ANY(ARRAY(
      SELECT id FROM ${approvalRequests}
      WHERE status IN ${OPEN} AND expires_at <= ${at}
      ORDER BY expires_at LIMIT ${limit} FOR UPDATE SKIP LOCKED))
    AND ${approvalRequests.expiresAt} <= ${at}`;
}

/** Open, unexpired requests whose escalation deadline has passed, oldest deadline first. */
export function dueForEscalation(now: Date, limit: number): SQL {
  const at = sql`${now.toISOString()}::timestamptz`;
  return sql`${approvalRequests.id} = ANY(ARRAY(
      SELECT id FROM ${approvalRequests}
      WHERE status IN ${OPEN} AND escalation_deadline <= ${at} AND expires_at > ${at}
      ORDER BY escalation_deadline LIMIT ${limit} FOR UPDATE SKIP LOCKED))
    AND ${approvalRequests.escalationDeadline} <= ${at} AND ${approvalRequests.expiresAt} > ${at}`;
}

/** The tier this step applies: the chain's entry at escalation_tier (expressions over the row before). */
const TIER_TARGET = sql`coalesce(${CHAIN}->(${approvalRequests.escalationTier}::int)->>'escalate_to', ${approvalRequests.escalateTo})`;

/** One escalation step: reassign to the tier's target, move to the next tier and its deadline (or none). */
export function escalationStep(now: Date): SQL[] {
  const next = sql`${CHAIN}->(${approvalRequests.escalationTier}::int + 1)`;
  return [
    sql`escalate_to = ${TIER_TARGET}`,
    sql`escalation_tier = ${approvalRequests.escalationTier} + 1`,
    sql`escalation_deadline = CASE WHEN ${next} IS NOT NULL
      THEN ${now.toISOString()}::timestamptz + (${next}->>'after_seconds')::int * interval '1 second' END`,
  ];
}

/** The history reason of a step: to whom, and which tier of how many. */
export const ESCALATION_REASON = sql`'no decision in time: escalated to '
  || coalesce(${TIER_TARGET}, 'no one (the policy names no escalate_to)')
  || ' (tier ' || (${approvalRequests.escalationTier} + 1) || ' of '
  || greatest(coalesce(jsonb_array_length(${CHAIN}), 0), ${approvalRequests.escalationTier} + 1) || ')'`;

export async function readJobControl(db: Database, job: string): Promise<JobControlRow> {
  const [row] = await db.select().from(jobControls).where(eq(jobControls.job, job));
  return (
    row ?? {
      job,
      paused: false,
      reason: null,
      changedBy: null,
      changedAt: null,
      lastRun: null,
      lastRunAt: null,
    }
  );
}

/** Pauses or resumes a job and audits it, in one transaction; returns the row as it stands. */
export async function setJobPaused(
  db: Database,
  job: string,
  change: { paused: boolean; reason: string; actor: string; actorKeyId: string; requestId: string | null },
): Promise<JobControlRow> {
  const values = {
    paused: change.paused,
    reason: change.reason,
    changedBy: change.actor,
    changedAt: new Date(),
  };
  const [[row]] = await db.batch([
    db
      .insert(jobControls)
      .values({ job, ...values })
      .onConflictDoUpdate({ target: jobControls.job, set: values })
      .returning(),
    db.insert(auditEvents).values({
      actor: change.actor,
      actorKeyId: change.actorKeyId,
      action: `${job}.${change.paused ? "pause" : "resume"}`,
      targetType: "job",
      targetId: job,
      after: { paused: change.paused, reason: change.reason },
      requestId: change.requestId,
    }),
  ]);
  if (!row) throw new Error("job_controls upsert returned no row");
  return row;
}

export async function recordJobRun(
  db: Database,
  job: string,
  summary: Record<string, unknown>,
): Promise<void> {
  const values = { lastRun: summary, lastRunAt: new Date() };
  await db
    .insert(jobControls)
    .values({ job, ...values })
    .onConflictDoUpdate({ target: jobControls.job, set: values });
}
