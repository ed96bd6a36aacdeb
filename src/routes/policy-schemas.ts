// zod schemas for policy rows, shared by the admin policy API (stored rules) and the evaluation
// sandbox (`policy_overrides`, proposed rules), so a proposed rule is exactly a rule that could be saved.
import { z } from "@hono/zod-openapi";
import { IDENTIFIER_MAX_LENGTH, IDENTIFIER_PATTERN, IDENTIFIER_RULE } from "../domain/limits.ts";
import {
  BUDGET_ENFORCEMENTS,
  BUDGET_PERIODS,
  CAPABILITY_EFFECTS,
  LEVEL_NAMES,
  POLICY_TYPES,
} from "../domain/vocabulary.ts";
import type { PolicyOverrides as DomainOverrides } from "../services/evaluation.ts";

export const Identifier = z
  .string()
  .min(1)
  .max(IDENTIFIER_MAX_LENGTH)
  .regex(IDENTIFIER_PATTERN, IDENTIFIER_RULE);

export const LevelName = z.enum(LEVEL_NAMES);
export const PolicyType = z.enum(POLICY_TYPES);
export const CapabilityEffect = z.enum(CAPABILITY_EFFECTS);
export const SkillPattern = z
  .string()
  .min(1)
  .max(200)
  .regex(/^([^*\s]+\*?|\*)$/, "an exact skill id, a prefix ending in * (e.g. email.*), or *");

const cents = z.number().int().min(0).max(1_000_000_000);

export const ApprovalLevelFields = z.object({
  policy_type: PolicyType,
  tenant_id: Identifier.nullable().default(null),
  agent_id: Identifier.nullable().default(null),
  skill_id: Identifier.nullable().default(null),
  approval_level: LevelName,
  auto_approve_max_cost_cents: cents.default(100),
  auto_approve_max_tokens: z.number().int().min(0).max(1_000_000_000).default(1000),
  escalate_to: z.string().min(1).max(200).nullable().default(null),
  escalation_timeout_seconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 3600)
    .default(300),
  escalation_chain: z
    .array(
      z
        .object({
          escalate_to: Identifier.openapi({ description: "Who the request is reassigned to at this tier" }),
          after_seconds: z
            .number()
            .int()
            .min(1)
            .max(30 * 24 * 3600)
            .openapi({
              description: "Seconds without a decision since the previous step (creation for the first)",
            }),
        })
        .strict(),
    )
    .max(10)
    .default([])
    .openapi({
      description:
        "Escalation tiers, in order. Empty: one step to escalate_to after escalation_timeout_seconds.",
    }),
  required_approvals: z.number().int().min(1).max(10).default(1),
  enabled: z.boolean().default(true),
});

export const CapabilityRuleFields = z.object({
  tenant_id: Identifier,
  agent_id: Identifier.nullable().default(null),
  skill_pattern: SkillPattern,
  effect: CapabilityEffect,
  approval_level: LevelName.nullable().default(null),
  description: z.string().max(500).nullable().default(null),
  enabled: z.boolean().default(true),
});

export const BudgetFields = z.object({
  tenant_id: Identifier,
  agent_id: Identifier.nullable().default(null),
  period: z.enum(BUDGET_PERIODS),
  limit_cents: cents,
  enforcement: z.enum(BUDGET_ENFORCEMENTS).default("hard"),
  enabled: z.boolean().default(true),
});

export const SkillCostFields = z.object({
  skill_id: Identifier,
  base_cents: cents.default(0),
  cents_per_1k_tokens: cents.default(0),
  description: z.string().max(500).nullable().default(null),
});

export const SettingsFields = z.object({
  capability_default_effect: CapabilityEffect,
  unknown_skill_cost_cents: cents,
});

export const PolicyOverrides = z
  .object({
    approval_levels: z.array(ApprovalLevelFields.strict()).max(200).optional(),
    capability_rules: z.array(CapabilityRuleFields.strict()).max(500).optional(),
    budgets: z.array(BudgetFields.strict()).max(200).optional(),
    skill_costs: z.array(SkillCostFields.strict()).max(500).optional(),
    settings: SettingsFields.partial().strict().optional(),
  })
  .strict()
  .openapi("PolicyOverrides", {
    description:
      "Proposed rules to evaluate against instead of the stored ones (admins only). Each kind given replaces all stored rules of that kind for this evaluation; nothing is saved.",
  });

/**
 * The fields of `schema`, each optional and without its default: a PATCH body, where a missing field
 * means "leave it", never "reset it to the default" (zod's .partial() keeps defaults).
 */
export function patchOf<T extends z.ZodRawShape>(schema: z.ZodObject<T>) {
  const shape = Object.fromEntries(
    Object.entries(schema.shape).map(([key, field]) => [
      key,
      field instanceof z.ZodDefault ? field.unwrap() : field,
    ]),
  );
  return z.object(shape).partial().strict();
}

/** Proposed rules as the evaluation sees them (the stored rows' shape, with no ids). */
export function toPolicyOverrides(overrides: z.infer<typeof PolicyOverrides>): DomainOverrides {
  return {
    approvalLevels: overrides.approval_levels?.map((row) => ({
      id: null,
      tenantId: row.tenant_id,
      agentId: row.agent_id,
      skillId: row.skill_id,
      approvalLevel: row.approval_level,
      autoApproveMaxCostCents: row.auto_approve_max_cost_cents,
      autoApproveMaxTokens: row.auto_approve_max_tokens,
      escalateTo: row.escalate_to,
      escalationTimeoutSeconds: row.escalation_timeout_seconds,
      escalationChain: row.escalation_chain,
      requiredApprovals: row.required_approvals,
      enabled: row.enabled,
    })),
    capabilityRules: overrides.capability_rules?.map((rule) => ({
      id: null,
      tenantId: rule.tenant_id,
      agentId: rule.agent_id,
      skillPattern: rule.skill_pattern,
      effect: rule.effect,
      approvalLevel: rule.approval_level,
      enabled: rule.enabled,
    })),
    budgets: overrides.budgets?.map((budget) => ({
      id: null,
      tenantId: budget.tenant_id,
      agentId: budget.agent_id,
      period: budget.period,
      limitCents: budget.limit_cents,
      enforcement: budget.enforcement,
      enabled: budget.enabled,
    })),
    skillCosts: overrides.skill_costs?.map((cost) => ({
      skillId: cost.skill_id,
      baseCents: cost.base_cents,
      centsPer1kTokens: cost.cents_per_1k_tokens,
    })),
    settings: {
      ...(overrides.settings?.capability_default_effect !== undefined && {
        capabilityDefaultEffect: overrides.settings.capability_default_effect,
      }),
      ...(overrides.settings?.unknown_skill_cost_cents !== undefined && {
        unknownSkillCostCents: overrides.settings.unknown_skill_cost_cents,
      }),
    },
  };
}
