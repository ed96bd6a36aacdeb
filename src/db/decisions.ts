// The decision log: one row per evaluation answered.
import { and, desc, eq, gte, lt } from "drizzle-orm";
import type { Decision } from "../domain/vocabulary.ts";
import type { Database } from "./client.ts";
import { type PolicyDecisionRow, policyDecisions } from "./schema.ts";

export async function insertDecision(db: Database, row: typeof policyDecisions.$inferInsert): Promise<void> {
  await db.insert(policyDecisions).values(row);
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
