// Statements of candidate policy bundles (issue 29, table policy_candidates): each change is one
// statement that also writes its audit_events row (a CTE), so a change and its audit record commit
// together or not at all. Also the hot path's candidate load and the shadow answers read back from the
// decision log.
import { and, desc, eq, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { rowFromRaw } from "./raw.ts";
import { type PolicyCandidateRow, policyCandidates, policyDecisions } from "./schema.ts";

export interface CandidateActor {
  principalId: string;
  keyId: string;
  requestId: string | null;
}

export interface NewCandidate {
  id: string;
  scope: string;
  bundle: Record<string, unknown>;
  bundleSha256: string;
  baseSha256: string;
  description: string | null;
  createdBy: string;
}

/** What an audit row says of a candidate: never the bundle itself (its hash names it). */
const AUDITED = sql`json_build_object('id', c.id, 'scope', c.scope, 'shadow', c.shadow,
  'bundle_sha256', c.bundle_sha256, 'base_sha256', c.base_sha256, 'description', c.description)::jsonb`;

function auditInsert(actor: CandidateActor, action: string, before: boolean, after: boolean) {
  return sql`INSERT INTO audit_events (actor, actor_key_id, action, target_type, target_id, before, after, request_id)
    SELECT ${actor.principalId}, ${actor.keyId}, ${action}, 'policy_candidate', c.id,
      ${before ? AUDITED : sql`NULL::jsonb`}, ${after ? AUDITED : sql`NULL::jsonb`}, ${actor.requestId}`;
}

function candidateOf(raw: Record<string, unknown> | undefined): PolicyCandidateRow | undefined {
  return raw ? rowFromRaw<PolicyCandidateRow>(policyCandidates, raw) : undefined;
}

export async function insertCandidate(
  db: Database,
  actor: CandidateActor,
  row: NewCandidate,
): Promise<PolicyCandidateRow> {
  const result = await db.execute(sql`WITH c AS (
      INSERT INTO ${policyCandidates} (id, scope, bundle, bundle_sha256, base_sha256, description, created_by)
      VALUES (${row.id}, ${row.scope}, ${JSON.stringify(row.bundle)}::jsonb, ${row.bundleSha256},
        ${row.baseSha256}, ${row.description}, ${row.createdBy})
      RETURNING *
    ), audit AS (${auditInsert(actor, "policy_candidate.create", false, true)} FROM c)
    SELECT * FROM c`);
  const created = candidateOf(result.rows[0] as Record<string, unknown> | undefined);
  if (!created) throw new Error("policy_candidates insert returned no row");
  return created;
}

export async function findCandidate(db: Database, id: string): Promise<PolicyCandidateRow | undefined> {
  const [row] = await db.select().from(policyCandidates).where(eq(policyCandidates.id, id));
  return row;
}

/** The candidate that shadows exactly `scope`, if any. */
export async function findShadowing(db: Database, scope: string): Promise<PolicyCandidateRow | undefined> {
  const [row] = await db
    .select()
    .from(policyCandidates)
    .where(and(eq(policyCandidates.scope, scope), eq(policyCandidates.shadow, true)));
  return row;
}

export async function listCandidates(
  db: Database,
  filter: { scope?: string | undefined },
  page: { limit: number; offset: number },
): Promise<PolicyCandidateRow[]> {
  return db
    .select()
    .from(policyCandidates)
    .where(and(filter.scope ? eq(policyCandidates.scope, filter.scope) : undefined))
    .orderBy(desc(policyCandidates.createdAt), desc(policyCandidates.id))
    .limit(page.limit)
    .offset(page.offset);
}

/**
 * Turns shadowing on or off, audited; undefined when there is no such candidate. Turning it on where
 * another candidate shadows the scope breaks policy_candidates_one_shadow_per_scope (a unique
 * violation), also when two such changes race.
 */
export async function setCandidateShadow(
  db: Database,
  actor: CandidateActor,
  id: string,
  shadow: boolean,
): Promise<PolicyCandidateRow | undefined> {
  const result = await db.execute(sql`WITH c AS (
      UPDATE ${policyCandidates} SET shadow = ${shadow}, updated_at = clock_timestamp()
      WHERE id = ${id} AND shadow IS DISTINCT FROM ${shadow}
      RETURNING *
    ), audit AS (${auditInsert(actor, shadow ? "policy_candidate.shadow_on" : "policy_candidate.shadow_off", false, true)} FROM c)
    SELECT c.* FROM c
    UNION ALL
    SELECT p.* FROM ${policyCandidates} p WHERE p.id = ${id} AND NOT EXISTS (SELECT 1 FROM c)`);
  return candidateOf(result.rows[0] as Record<string, unknown> | undefined);
}

/** Deletes a candidate, audited; undefined when there is none. Its shadow answers stay in the log. */
export async function deleteCandidate(
  db: Database,
  actor: CandidateActor,
  id: string,
): Promise<PolicyCandidateRow | undefined> {
  const result = await db.execute(sql`WITH c AS (
      DELETE FROM ${policyCandidates} WHERE id = ${id} RETURNING *
    ), audit AS (${auditInsert(actor, "policy_candidate.delete", true, false)} FROM c)
    SELECT * FROM c`);
  return candidateOf(result.rows[0] as Record<string, unknown> | undefined);
}

/** The hot path's load of a shadowing candidate: its bundle and revision (undefined: gone since). */
export async function loadShadowCandidate(
  db: Database,
  id: string,
): Promise<{ bundle: unknown; revision: string } | undefined> {
  const result = await db.execute(
    sql`SELECT bundle, updated_at::text AS revision FROM ${policyCandidates} WHERE id = ${id}`,
  );
  const [raw] = result.rows as { bundle: unknown; revision: string }[];
  if (!raw) return undefined;
  return {
    bundle: typeof raw.bundle === "string" ? JSON.parse(raw.bundle) : raw.bundle,
    revision: raw.revision,
  };
}

export interface DisagreementCount {
  decision: string;
  shadowDecision: string;
  /** shadow level minus live level: > 0 the candidate asks for more, < 0 for less. */
  levelChange: number;
  count: number;
}

export interface ShadowDisagreement {
  id: string;
  tenantId: string;
  agentId: string | null;
  skillId: string;
  decision: string;
  approvalLevelRequired: number;
  shadowDecision: string;
  shadowLevel: number;
  createdAt: Date;
}

/**
 * How a candidate's shadow answers differed from the live ones, over the decision log's
 * policy_decisions_shadow_idx: the shadowed total, counts by (decision, shadow decision, level
 * change), and the latest `limit` disagreements.
 */
export async function readDisagreements(
  db: Database,
  candidateId: string,
  limit: number,
): Promise<{ shadowed: number; counts: DisagreementCount[]; latest: ShadowDisagreement[] }> {
  const differs = sql`(${policyDecisions.decision} IS DISTINCT FROM ${policyDecisions.shadowDecision}
    OR ${policyDecisions.approvalLevelRequired} IS DISTINCT FROM ${policyDecisions.shadowLevel})`;
  const mine = eq(policyDecisions.shadowCandidateId, candidateId);
  const [totals, counts, latest] = await db.batch([
    db.select({ shadowed: sql<number>`count(*)::int` }).from(policyDecisions).where(mine),
    db
      .select({
        decision: policyDecisions.decision,
        shadowDecision: sql<string>`${policyDecisions.shadowDecision}`,
        levelChange: sql<number>`(${policyDecisions.shadowLevel} - ${policyDecisions.approvalLevelRequired})::int`,
        count: sql<number>`count(*)::int`,
      })
      .from(policyDecisions)
      .where(and(mine, differs))
      .groupBy(sql`1, 2, 3`)
      .orderBy(sql`4 DESC, 1, 2, 3`),
    db
      .select({
        id: policyDecisions.id,
        tenantId: policyDecisions.tenantId,
        agentId: policyDecisions.agentId,
        skillId: policyDecisions.skillId,
        decision: policyDecisions.decision,
        approvalLevelRequired: policyDecisions.approvalLevelRequired,
        shadowDecision: sql<string>`${policyDecisions.shadowDecision}`,
        shadowLevel: sql<number>`${policyDecisions.shadowLevel}::int`,
        createdAt: policyDecisions.createdAt,
      })
      .from(policyDecisions)
      .where(and(mine, differs))
      .orderBy(desc(policyDecisions.createdAt), desc(policyDecisions.id))
      .limit(limit),
  ]);
  return { shadowed: totals[0]?.shadowed ?? 0, counts, latest };
}
