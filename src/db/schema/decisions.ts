// The decision log: every evaluation answered by POST /api/v1/policy/eval.
import { sql } from "drizzle-orm";
import { bigint, boolean, check, index, integer, jsonb, pgTable, smallint, text } from "drizzle-orm/pg-core";
import { DECISIONS, type PolicyType } from "../../domain/vocabulary.ts";
import { quotedList, timestamptz } from "./columns.ts";

/** Every evaluation answered by POST /api/v1/policy/eval. */
export const policyDecisions = pgTable(
  "policy_decisions",
  {
    /** `dec_` + 20 hex characters. */
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id"),
    skillId: text("skill_id").notNull(),
    policyType: text("policy_type").$type<PolicyType>().notNull(),
    decision: text("decision", { enum: DECISIONS }).notNull(),
    approvalLevelRequired: smallint("approval_level_required").notNull(),
    simulatedCostCents: integer("simulated_cost_cents").notNull(),
    policyVersion: bigint("policy_version", { mode: "number" }).notNull(),
    overridesUsed: boolean("overrides_used").notNull().default(false),
    reasons: jsonb("reasons").$type<string[]>().notNull(),
    violations: jsonb("violations").$type<unknown[]>().notNull(),
    checks: jsonb("checks").$type<unknown[]>().notNull(),
    principalId: text("principal_id").notNull(),
    keyId: text("key_id").notNull(),
    requestId: text("request_id"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    // What the evaluation read besides the policy, so a plan can replay it against a candidate
    // (issue 29): the token count read from the payload, whether cost was simulated, and the spend to
    // date it judged budgets by ({tenantDay, tenantMonth, agentDay, agentMonth}). NULL on rows written
    // before they were kept: such a row is not replayed.
    tokens: integer("tokens"),
    simulateCost: boolean("simulate_cost"),
    spend: jsonb("spend").$type<Record<string, number>>(),
    // Shadow mode: the candidate that shadowed this evaluation and what it would have answered (the
    // answer given is `decision`); NULL when no candidate shadowed it.
    shadowCandidateId: text("shadow_candidate_id"),
    shadowDecision: text("shadow_decision", { enum: DECISIONS }),
    shadowLevel: smallint("shadow_level"),
  },
  (table) => [
    index("policy_decisions_tenant_created_idx").on(table.tenantId, table.createdAt),
    index("policy_decisions_shadow_idx")
      .on(table.shadowCandidateId, table.createdAt)
      .where(sql`${table.shadowCandidateId} IS NOT NULL`),
    check(
      "policy_decisions_shadow_decision_valid",
      sql`${table.shadowDecision} IS NULL OR ${table.shadowDecision} IN (${quotedList(DECISIONS)})`,
    ),
    index("policy_decisions_created_idx").on(table.createdAt),
    check("policy_decisions_decision_valid", sql`${table.decision} IN (${quotedList(DECISIONS)})`),
  ],
);

export type PolicyDecisionRow = typeof policyDecisions.$inferSelect;
