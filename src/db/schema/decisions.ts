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
  },
  (table) => [
    index("policy_decisions_tenant_created_idx").on(table.tenantId, table.createdAt),
    index("policy_decisions_created_idx").on(table.createdAt),
    check("policy_decisions_decision_valid", sql`${table.decision} IN (${quotedList(DECISIONS)})`),
  ],
);

export type PolicyDecisionRow = typeof policyDecisions.$inferSelect;
