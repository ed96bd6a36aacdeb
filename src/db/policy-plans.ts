// The decision log a plan replays (src/domain/policy-plan.ts): one window, one scope, in one statement,
// only the columns a replay reads. Bounded by a sample limit: the newest rows of the window first (the
// traffic most like tomorrow's), so a window with more rows than the limit is planned on its latest part.
import { and, desc, eq, gte, lt } from "drizzle-orm";
import type { SpendToDate } from "../domain/evaluation.ts";
import { ALL_SCOPE } from "../domain/policy-bundle.ts";
import type { LoggedDecision } from "../domain/policy-plan.ts";
import type { Database } from "./client.ts";
import { policyDecisions } from "./schema.ts";

export interface PlanWindow {
  scope: string;
  /** Inclusive. */
  since: Date;
  /** Exclusive. */
  until: Date;
  /** At most this many rows, the newest. */
  limit: number;
}

/** The window's newest `limit` rows, and whether it held more (read as limit + 1 rows). */
export async function readPlanDecisions(
  db: Database,
  window: PlanWindow,
): Promise<{ rows: LoggedDecision[]; limited: boolean }> {
  const d = policyDecisions;
  const found = await db
    .select({
      id: d.id,
      tenantId: d.tenantId,
      agentId: d.agentId,
      skillId: d.skillId,
      policyType: d.policyType,
      decision: d.decision,
      approvalLevelRequired: d.approvalLevelRequired,
      overridesUsed: d.overridesUsed,
      tokens: d.tokens,
      simulateCost: d.simulateCost,
      spend: d.spend,
      createdAt: d.createdAt,
    })
    .from(d)
    .where(
      and(
        window.scope === ALL_SCOPE ? undefined : eq(d.tenantId, window.scope),
        gte(d.createdAt, window.since),
        lt(d.createdAt, window.until),
      ),
    )
    .orderBy(desc(d.createdAt), desc(d.id))
    .limit(window.limit + 1);
  return {
    limited: found.length > window.limit,
    rows: found.slice(0, window.limit).map((row) => ({
      id: row.id,
      tenant_id: row.tenantId,
      agent_id: row.agentId,
      skill_id: row.skillId,
      policy_type: row.policyType,
      decision: row.decision,
      approval_level_required: row.approvalLevelRequired,
      overrides_used: row.overridesUsed,
      tokens: row.tokens,
      simulate_cost: row.simulateCost,
      spend: row.spend as SpendToDate | null,
      created_at: row.createdAt.toISOString(),
    })),
  };
}
