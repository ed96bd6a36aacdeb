// Logged policy decisions on the wire: GET /api/v1/policy/decisions[/{decision_id}], and the mapper
// from a decision-log row.
import { z } from "@hono/zod-openapi";
import type { PolicyDecisionRow } from "../db/schema.ts";
import { DECISION_ID_PATTERN } from "../domain/ids.ts";
import { DECISIONS, levelName } from "../domain/vocabulary.ts";
import type { searchDecisions } from "../services/evaluation.ts";
import { Identifier, IsoDateTime, optionalDate, PolicyType, pageQuery } from "./common.ts";

export const DecisionSchema = z
  .object({
    decision_id: z.string(),
    decision: z.enum(DECISIONS),
    tenant_id: z.string(),
    agent_id: z.string().nullable(),
    skill_id: z.string(),
    policy_type: PolicyType,
    approval_level_required: z.number().int(),
    approval_level_name: z.string().nullable(),
    simulated_cost_cents: z.number().int(),
    policy_version: z.number().int(),
    overrides_used: z.boolean(),
    reasons: z.array(z.string()),
    violations: z.array(z.unknown()),
    checks: z.array(z.unknown()),
    principal_id: z.string(),
    request_id: z.string().nullable(),
    timestamp: z.string(),
  })
  .openapi("PolicyDecision");

export const DecisionIdParam = z.object({
  decision_id: z
    .string()
    .regex(DECISION_ID_PATTERN, "a decision id is dec_ + 20 hex characters")
    .openapi({ param: { name: "decision_id", in: "path" } }),
});

export const DecisionListQuery = z.object({
  tenant_id: Identifier.optional(),
  agent_id: Identifier.optional(),
  skill_id: Identifier.optional(),
  decision: z.enum(DECISIONS).optional(),
  since: IsoDateTime.optional().openapi({ description: "Inclusive lower bound (ISO 8601)" }),
  until: IsoDateTime.optional().openapi({ description: "Exclusive upper bound (ISO 8601)" }),
  ...pageQuery({ maxLimit: 500, defaultLimit: 100, maxOffset: 1_000_000 }),
});

export function decisionToApi(row: PolicyDecisionRow): z.infer<typeof DecisionSchema> {
  return {
    decision_id: row.id,
    decision: row.decision,
    tenant_id: row.tenantId,
    agent_id: row.agentId,
    skill_id: row.skillId,
    policy_type: row.policyType,
    approval_level_required: row.approvalLevelRequired,
    approval_level_name: levelName(row.approvalLevelRequired) ?? null,
    simulated_cost_cents: row.simulatedCostCents,
    policy_version: row.policyVersion,
    overrides_used: row.overridesUsed,
    reasons: row.reasons,
    violations: row.violations,
    checks: row.checks,
    principal_id: row.principalId,
    request_id: row.requestId,
    timestamp: row.createdAt.toISOString(),
  };
}

/** The service's search for a list query. */
export function toDecisionSearch(
  query: z.infer<typeof DecisionListQuery>,
): Parameters<typeof searchDecisions>[2] {
  return {
    tenantId: query.tenant_id,
    agentId: query.agent_id,
    skillId: query.skill_id,
    decision: query.decision,
    since: optionalDate(query.since),
    until: optionalDate(query.until),
    limit: query.limit,
    offset: query.offset,
  };
}
