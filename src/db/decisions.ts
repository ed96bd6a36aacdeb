// The decision log: one row per evaluation answered.
import { and, desc, eq, gte, lt } from "drizzle-orm";
import type { Decision } from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import { type PolicyDecisionRow, policyDecisions } from "./schema.ts";

export type DecisionInsert = typeof policyDecisions.$inferInsert;

export async function insertDecision(db: Database, row: DecisionInsert): Promise<void> {
  await db.insert(policyDecisions).values(row);
}

/**
 * A batch of decisions in one statement. A row already written (a queue message delivered twice) is
 * skipped, so a retried batch writes each decision once.
 */
export async function insertDecisions(db: Database, rows: DecisionInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await db.insert(policyDecisions).values(rows).onConflictDoNothing({ target: policyDecisions.id });
}

export async function findDecision(db: Database, id: string): Promise<PolicyDecisionRow | undefined> {
  const [row] = await db.select().from(policyDecisions).where(eq(policyDecisions.id, id));
  return row;
}

export interface DecisionFilter {
  tenantId?: string | undefined;
  agentId?: string | undefined;
  skillId?: string | undefined;
  decision?: Decision | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

export async function listDecisions(
  db: Database,
  filter: DecisionFilter,
  page: { limit: number; offset: number },
): Promise<PolicyDecisionRow[]> {
  return db
    .select()
    .from(policyDecisions)
    .where(
      and(
        filter.tenantId ? eq(policyDecisions.tenantId, filter.tenantId) : undefined,
        filter.agentId ? eq(policyDecisions.agentId, filter.agentId) : undefined,
        filter.skillId ? eq(policyDecisions.skillId, filter.skillId) : undefined,
        filter.decision ? eq(policyDecisions.decision, filter.decision) : undefined,
        filter.since ? gte(policyDecisions.createdAt, filter.since) : undefined,
        filter.until ? lt(policyDecisions.createdAt, filter.until) : undefined,
      ),
    )
    .orderBy(desc(policyDecisions.createdAt), desc(policyDecisions.id))
    .limit(page.limit)
    .offset(page.offset);
}
