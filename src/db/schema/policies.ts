// The policy tables: approval levels, capability rules, budgets, skill costs, the settings row and the
// policy-set version. Everything an evaluation reads as policy (src/db/policy-state.ts loads them).
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  check,
  integer,
  jsonb,
  pgTable,
  smallint,
  text,
  unique,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import { ID_PATTERN_PATTERN, IDENTIFIER_PATTERN } from "../../domain/limits.ts";
import {
  BUDGET_ENFORCEMENTS,
  BUDGET_PERIODS,
  CAPABILITY_EFFECTS,
  type EscalationTier,
  POLICY_TYPES,
  type PolicyType,
} from "../../domain/vocabulary.ts";
import { quotedList, quotedPattern, timestamptz } from "./columns.ts";

export const policyApprovalLevels = pgTable(
  "policy_approval_levels",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    policyType: text("policy_type").$type<PolicyType>().notNull(),
    /** NULL = any tenant / agent / skill; the most specific matching row wins. */
    tenantId: text("tenant_id"),
    agentId: text("agent_id"),
    skillId: text("skill_id"),
    /**
     * Level by name: auto_approve, pre_approved, agent_approve, manual_approve, owner_override.
     * Deliberately not constrained here: the API rejects unknown names on write, and a name that
     * reaches the table by hand-written SQL is treated as the strictest level, never guessed.
     */
    approvalLevel: text("approval_level").notNull().default("agent_approve"),
    autoApproveMaxCostCents: integer("auto_approve_max_cost_cents").notNull().default(100),
    autoApproveMaxTokens: integer("auto_approve_max_tokens").notNull().default(1000),
    escalateTo: text("escalate_to"),
    escalationTimeoutSeconds: integer("escalation_timeout_seconds").notNull().default(300),
    /**
     * Ordered escalation tiers `[{escalate_to, after_seconds}]`: each reassigns a request still
     * undecided `after_seconds` after the previous step. Empty: one step to `escalate_to` after
     * `escalation_timeout_seconds`.
     */
    escalationChain: jsonb("escalation_chain").$type<EscalationTier[]>().notNull().default([]),
    requiredApprovals: smallint("required_approvals").notNull().default(1),
    enabled: boolean("enabled").notNull().default(true),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    // One row per scope; NULLs compare equal so there is exactly one global default per type.
    unique("policy_approval_levels_scope_key")
      .on(table.policyType, table.tenantId, table.agentId, table.skillId)
      .nullsNotDistinct(),
    check(
      "policy_approval_levels_policy_type_valid",
      sql`${table.policyType} IN (${quotedList(POLICY_TYPES)})`,
    ),
    check(
      "policy_approval_levels_ceilings_nonnegative",
      sql`${table.autoApproveMaxCostCents} >= 0 AND ${table.autoApproveMaxTokens} >= 0`,
    ),
    check("policy_approval_levels_timeout_positive", sql`${table.escalationTimeoutSeconds} > 0`),
    check("policy_approval_levels_required_approvals_positive", sql`${table.requiredApprovals} >= 1`),
    // Skill ids are stored canonical (domain/limits.ts), so evaluation and every lookup compare exactly.
    check(
      "policy_approval_levels_skill_id_canonical",
      sql`${table.skillId} ~ ${quotedPattern(IDENTIFIER_PATTERN)}`,
    ),
  ],
);

/** Which skills a tenant's (or one agent's) calls may use. Most specific match wins. */
export const capabilityRules = pgTable(
  "capability_rules",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull(),
    /** NULL: every agent of the tenant. */
    agentId: text("agent_id"),
    /** An exact skill id, or a prefix ending in `*` ("email.*"), or `*` for every skill; canonical. */
    skillPattern: text("skill_pattern").notNull(),
    effect: text("effect", { enum: CAPABILITY_EFFECTS }).notNull(),
    /** For require_approval: the level needed (name); NULL uses the policy's level (at least agent_approve). */
    approvalLevel: text("approval_level"),
    description: text("description"),
    enabled: boolean("enabled").notNull().default(true),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    unique("capability_rules_scope_key")
      .on(table.tenantId, table.agentId, table.skillPattern)
      .nullsNotDistinct(),
    check("capability_rules_effect_valid", sql`${table.effect} IN (${quotedList(CAPABILITY_EFFECTS)})`),
    check(
      "capability_rules_skill_pattern_canonical",
      sql`${table.skillPattern} ~ ${quotedPattern(ID_PATTERN_PATTERN)}`,
    ),
  ],
);

/** Spending limits per tenant (or one agent) per UTC day or month. */
export const budgets = pgTable(
  "budgets",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    tenantId: text("tenant_id").notNull(),
    /** NULL: the whole tenant's spend; otherwise only this agent's. */
    agentId: text("agent_id"),
    period: text("period", { enum: BUDGET_PERIODS }).notNull(),
    limitCents: bigint("limit_cents", { mode: "number" }).notNull(),
    /** hard: over the limit is denied; soft: over the limit needs approval. */
    enforcement: text("enforcement", { enum: BUDGET_ENFORCEMENTS }).notNull().default("hard"),
    enabled: boolean("enabled").notNull().default(true),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    unique("budgets_scope_key").on(table.tenantId, table.agentId, table.period).nullsNotDistinct(),
    check("budgets_period_valid", sql`${table.period} IN (${quotedList(BUDGET_PERIODS)})`),
    check("budgets_enforcement_valid", sql`${table.enforcement} IN (${quotedList(BUDGET_ENFORCEMENTS)})`),
    check("budgets_limit_nonnegative", sql`${table.limitCents} >= 0`),
  ],
);

/** Cost model per skill: base cents plus cents per 1,000 tokens. */
export const skillCosts = pgTable(
  "skill_costs",
  {
    skillId: text("skill_id").primaryKey(),
    baseCents: integer("base_cents").notNull().default(0),
    centsPer1kTokens: integer("cents_per_1k_tokens").notNull().default(0),
    description: text("description"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    check("skill_costs_nonnegative", sql`${table.baseCents} >= 0 AND ${table.centsPer1kTokens} >= 0`),
    check("skill_costs_skill_id_canonical", sql`${table.skillId} ~ ${quotedPattern(IDENTIFIER_PATTERN)}`),
  ],
);

/** Policy-wide settings: exactly one row (id 1). */
export const policySettings = pgTable(
  "policy_settings",
  {
    id: smallint("id").primaryKey().default(1),
    /** The capability effect when no rule matches. */
    capabilityDefaultEffect: text("capability_default_effect", { enum: CAPABILITY_EFFECTS })
      .notNull()
      .default("allow"),
    /** Cost of a skill with no cost model (the original service used 10 cents). */
    unknownSkillCostCents: integer("unknown_skill_cost_cents").notNull().default(10),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    check("policy_settings_single_row", sql`${table.id} = 1`),
    check(
      "policy_settings_default_effect_valid",
      sql`${table.capabilityDefaultEffect} IN (${quotedList(CAPABILITY_EFFECTS)})`,
    ),
    check("policy_settings_unknown_cost_nonnegative", sql`${table.unknownSkillCostCents} >= 0`),
  ],
);

/**
 * The policy-set version: one row, bumped by a trigger on every change to any policy table, whether
 * it came through the admin API or through hand-written SQL (the runbook's emergency UPDATE).
 */
export const policySetVersion = pgTable(
  "policy_set_version",
  {
    id: smallint("id").primaryKey().default(1),
    version: bigint("version", { mode: "number" }).notNull().default(1),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [check("policy_set_version_single_row", sql`${table.id} = 1`)],
);

/**
 * Candidate policy bundles (issue 29): a scope's policy as a bundle (src/domain/policy-bundle.ts) that
 * is not live. A plan replays traffic against one; a shadowing candidate is evaluated beside every live
 * evaluation in its scope, its answers recorded in the decision log and never given. At most one
 * candidate shadows a scope.
 */
export const policyCandidates = pgTable(
  "policy_candidates",
  {
    /** `pcd_` + 16 hex characters. */
    id: text("id").primaryKey(),
    /** A tenant id, or `*` for the whole policy set. */
    scope: text("scope").notNull(),
    /** The bundle in its canonical wire form. */
    bundle: jsonb("bundle").$type<Record<string, unknown>>().notNull(),
    bundleSha256: text("bundle_sha256").notNull(),
    /** The live scope's hash when the candidate was stored: what it was planned against. */
    baseSha256: text("base_sha256").notNull(),
    description: text("description"),
    shadow: boolean("shadow").notNull().default(false),
    createdBy: text("created_by").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("policy_candidates_one_shadow_per_scope").on(table.scope).where(sql`${table.shadow}`),
    check(
      "policy_candidates_scope_valid",
      sql`${table.scope} = '*' OR ${table.scope} ~ ${quotedPattern(IDENTIFIER_PATTERN)}`,
    ),
  ],
);

export type PolicyCandidateRow = typeof policyCandidates.$inferSelect;
export type PolicyApprovalLevelRow = typeof policyApprovalLevels.$inferSelect;
export type CapabilityRuleRow = typeof capabilityRules.$inferSelect;
export type BudgetRow = typeof budgets.$inferSelect;
export type SkillCostRow = typeof skillCosts.$inferSelect;
export type PolicySettingsRow = typeof policySettings.$inferSelect;
