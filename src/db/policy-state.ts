// Reads everything an evaluation needs in one database round trip: one read-only batch of six
// statements (approval levels, capability rules, budgets, spend to date, the skill's cost model,
// settings with the policy-set version).
import { and, eq, isNull, or, sql } from "drizzle-orm";
import type { EvaluationInput, PolicyState } from "../domain/evaluation.ts";
import type { Database } from "./client.ts";
import {
  budgets,
  capabilityRules,
  policyApprovalLevels,
  policySettings,
  policySetVersion,
  skillCosts,
  spendLedger,
} from "./schema.ts";

export interface LoadedPolicyState extends PolicyState {
  version: number;
  /** When it was read: the spend figures in a judgment's explanation are as of then. */
  readAt: string;
}

// Period starts in UTC, computed by the database so every worker agrees on the boundary.
const DAY_START = sql`date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;
const MONTH_START = sql`date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;

/** Column names of spendToDate's answer, by SpendToDate field. */
export const SPEND_COLUMNS = {
  tenantDay: "tenant_day",
  tenantMonth: "tenant_month",
  agentDay: "agent_day",
  agentMonth: "agent_month",
} as const;

/**
 * Spend to date of a call's tenant and agent, this UTC day and month, in one row: read with the
 * policy, and re-checked inside the statement that files a request (db/approval-requests.ts).
 */
export function spendToDate(db: Database, call: Pick<EvaluationInput, "tenantId" | "agentId">) {
  const agentSpend = call.agentId === null ? sql`false` : sql`${spendLedger.agentId} = ${call.agentId}`;
  return db
    .select({
      tenantDay:
        sql<string>`coalesce(sum(${spendLedger.amountCents}) FILTER (WHERE ${spendLedger.occurredAt} >= ${DAY_START}), 0)`.as(
          SPEND_COLUMNS.tenantDay,
        ),
      tenantMonth: sql<string>`coalesce(sum(${spendLedger.amountCents}), 0)`.as(SPEND_COLUMNS.tenantMonth),
      agentDay:
        sql<string>`coalesce(sum(${spendLedger.amountCents}) FILTER (WHERE ${agentSpend} AND ${spendLedger.occurredAt} >= ${DAY_START}), 0)`.as(
          SPEND_COLUMNS.agentDay,
        ),
      agentMonth: sql<string>`coalesce(sum(${spendLedger.amountCents}) FILTER (WHERE ${agentSpend}), 0)`.as(
        SPEND_COLUMNS.agentMonth,
      ),
    })
    .from(spendLedger)
    .where(and(eq(spendLedger.tenantId, call.tenantId), sql`${spendLedger.occurredAt} >= ${MONTH_START}`));
}

export async function loadPolicyState(
  db: Database,
  call: Pick<EvaluationInput, "tenantId" | "agentId" | "skillId" | "policyType">,
): Promise<LoadedPolicyState> {
  const [levels, rules, budgetRows, [spend], costs, [settings]] = await db.batch([
    db
      .select()
      .from(policyApprovalLevels)
      .where(
        and(
          eq(policyApprovalLevels.policyType, call.policyType),
          or(isNull(policyApprovalLevels.tenantId), eq(policyApprovalLevels.tenantId, call.tenantId)),
        ),
      ),
    db.select().from(capabilityRules).where(eq(capabilityRules.tenantId, call.tenantId)),
    db.select().from(budgets).where(eq(budgets.tenantId, call.tenantId)),
    spendToDate(db, call),
    db.select().from(skillCosts).where(eq(skillCosts.skillId, call.skillId)),
    db
      .select({
        capabilityDefaultEffect: policySettings.capabilityDefaultEffect,
        unknownSkillCostCents: policySettings.unknownSkillCostCents,
        version: policySetVersion.version,
      })
      .from(policySettings)
      .crossJoin(policySetVersion),
  ]);
  if (!settings) throw new Error("policy_settings / policy_set_version rows are missing: run the migrations");
  return {
    approvalLevels: levels,
    capabilityRules: rules,
    budgets: budgetRows,
    skillCosts: costs,
    settings: {
      capabilityDefaultEffect: settings.capabilityDefaultEffect,
      unknownSkillCostCents: settings.unknownSkillCostCents,
    },
    spend: {
      tenantDay: Number(spend?.tenantDay ?? 0),
      tenantMonth: Number(spend?.tenantMonth ?? 0),
      agentDay: Number(spend?.agentDay ?? 0),
      agentMonth: Number(spend?.agentMonth ?? 0),
    },
    version: Number(settings.version),
    readAt: new Date().toISOString(),
  };
}
