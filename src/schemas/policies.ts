// Policy rules on the wire: the fields of each kind of rule, shared by the admin policy API (stored
// rules) and the evaluation sandbox (`policy_overrides`, proposed rules), so a proposed rule is exactly a
// rule that could be saved; the admin API's row, list and id schemas per kind; the policy-wide settings;
// and the mappers from these to what services/evaluation.ts and services/policies.ts take and give.
import { z } from "@hono/zod-openapi";
import type { PolicyKind, SettingsState } from "../db/policies.ts";
import { BUDGET_ENFORCEMENTS, BUDGET_PERIODS, CAPABILITY_EFFECTS } from "../domain/vocabulary.ts";
import type { PolicyOverrides as DomainOverrides } from "../services/evaluation.ts";
import { Identifier, LevelName, PolicyType, pageQuery, SkillPattern } from "./common.ts";

export const CapabilityEffect = z.enum(CAPABILITY_EFFECTS);

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

// ---------------------------------------------------------------------------------------------------
// The admin policy API: one resource per kind of rule, each with the same five operations.

/** One kind of policy rule as the admin API serves it. */
export interface PolicyResource {
  /** URL segment, e.g. "capability-rules". */
  path: PolicyKind;
  /** OpenAPI component name of one row. */
  name: string;
  idParam: z.ZodType<string | number>;
  fields: z.ZodObject;
  /** Columns a list can be filtered on (their API names). */
  filters: string[];
}

// Plain decimal ids only: z.coerce.number() would also take "0x1" or "1e0".
const numericId = z
  .string()
  .regex(/^[1-9][0-9]{0,14}$/, "a row id is a positive whole number")
  .transform(Number);

export const POLICY_RESOURCES: PolicyResource[] = [
  {
    path: "approval-levels",
    name: "ApprovalLevelPolicy",
    idParam: numericId,
    fields: ApprovalLevelFields,
    filters: ["policy_type", "tenant_id", "agent_id", "skill_id"],
  },
  {
    path: "capability-rules",
    name: "CapabilityRule",
    idParam: numericId,
    fields: CapabilityRuleFields,
    filters: ["tenant_id", "agent_id", "effect"],
  },
  {
    path: "budgets",
    name: "Budget",
    idParam: numericId,
    fields: BudgetFields,
    filters: ["tenant_id", "agent_id", "period"],
  },
  {
    path: "skill-costs",
    name: "SkillCost",
    idParam: Identifier,
    fields: SkillCostFields,
    filters: [],
  },
];

/** List filters naming an id take it as every other field does: folded to its canonical form. */
const ID_FILTERS: Record<string, z.ZodString> = {
  tenant_id: Identifier,
  agent_id: Identifier,
  skill_id: Identifier,
};

/** The request and response schemas of one policy resource's operations. */
export function policyResourceSchemas(resource: PolicyResource) {
  const row = resource.fields
    .extend({ ...(resource.path === "skill-costs" ? {} : { id: z.number().int() }) })
    .extend({ created_at: z.string(), updated_at: z.string() })
    .openapi(resource.name);
  return {
    row,
    /** A changed row with the policy-set version after the change. */
    rowWithVersion: row.extend({ policy_version: z.number().int() }),
    params: z.object({ id: resource.idParam.openapi({ param: { name: "id", in: "path" } }) }),
    listQuery: z.object(
      Object.fromEntries([
        ...resource.filters.map((filter) => [filter, (ID_FILTERS[filter] ?? z.string().max(200)).optional()]),
        ...Object.entries(pageQuery({ maxLimit: 1000, defaultLimit: 500 })),
      ]),
    ),
    createBody: resource.fields.strict(),
    patchBody: patchOf(resource.fields),
  };
}

/** A created, changed or deleted row with the policy-set version after the change. */
export function changedRowToApi({ row, version }: { row: Record<string, unknown>; version: number }) {
  return { ...row, policy_version: version };
}

export const SettingsSchema = SettingsFields.extend({
  policy_version: z.number().int(),
  updated_at: z.string(),
}).openapi("PolicySettings");

export const SettingsPatch = SettingsFields.partial().strict();

export function settingsToApi(settings: SettingsState): z.infer<typeof SettingsSchema> {
  return {
    capability_default_effect: settings.capabilityDefaultEffect,
    unknown_skill_cost_cents: settings.unknownSkillCostCents,
    policy_version: settings.version,
    updated_at: settings.updatedAt.toISOString(),
  };
}

/** The service's change for a settings PATCH body. */
export function toSettingsChange(body: z.infer<typeof SettingsPatch>) {
  return {
    capabilityDefaultEffect: body.capability_default_effect,
    unknownSkillCostCents: body.unknown_skill_cost_cents,
  };
}
