// Evaluation on the wire: the body of POST /api/v1/policy/eval (also the MCP evaluate_action tool's
// input), its answer, and the mappers to the service's command and from its result.
import { z } from "@hono/zod-openapi";
import {
  CHECK_NAMES,
  CHECK_OUTCOMES,
  DECISIONS,
  levelName,
  VIOLATION_SEVERITIES,
} from "../domain/vocabulary.ts";
import type { EvaluateCommand, EvaluatedCall } from "../services/evaluation.ts";
import { Identifier, PolicyType } from "./common.ts";
import { PolicyOverrides, toPolicyOverrides } from "./policies.ts";

export const EvalBody = z
  .object({
    skill_id: Identifier.openapi({ example: "email.send" }),
    tenant_id: Identifier.openapi({ example: "acme" }),
    agent_id: Identifier.nullable().optional(),
    policy_type: PolicyType.default("cost").openapi({
      description: "Which approval-level policy applies (cost by default)",
    }),
    payload: z
      .record(z.string(), z.unknown())
      .default({})
      .openapi({
        description:
          "The skill call's arguments. Token count is read from tokens, estimated_tokens or max_tokens, else input_tokens + output_tokens.",
        example: { to: "ops@example.com", max_tokens: 800 },
      }),
    policy_version: z
      .union([z.string().max(50), z.number().int()])
      .nullable()
      .optional()
      .openapi({ description: "The policy-set version the caller expects; 409 if policy has changed since" }),
    simulate_cost: z.boolean().default(true),
    policy_overrides: PolicyOverrides.optional(),
  })
  .strict()
  .openapi("EvalRequest");

const CheckSchema = z.object({
  check: z.enum(CHECK_NAMES),
  outcome: z.enum(CHECK_OUTCOMES),
  detail: z.string(),
  rule: z.record(z.string(), z.unknown()).nullable(),
  level: z.number().int().optional(),
});

export const EvalResponse = z
  .object({
    decision: z.enum(DECISIONS),
    reasons: z.array(z.string()),
    simulated_cost_cents: z.number().int(),
    policy_version: z.number().int(),
    approval_level_required: z.number().int().openapi({ description: "1 auto_approve … 5 owner_override" }),
    approval_level_name: z.string(),
    violations: z.array(
      z.object({
        type: z.string(),
        check: z.string(),
        severity: z.enum(VIOLATION_SEVERITIES),
        message: z.string(),
      }),
    ),
    timestamp: z.string(),
    decision_id: z.string(),
    policy_type: PolicyType,
    overrides_used: z.boolean(),
    explanation: z.object({ tokens: z.number().int(), checks: z.array(CheckSchema) }),
  })
  .openapi("EvalResponse");

/** The service's command for an eval body (the REST route and the MCP evaluate_action tool). */
export function toEvaluateCommand(body: z.infer<typeof EvalBody>): EvaluateCommand {
  return {
    skillId: body.skill_id,
    tenantId: body.tenant_id,
    agentId: body.agent_id ?? null,
    policyType: body.policy_type,
    payload: body.payload,
    simulateCost: body.simulate_cost,
    expectedVersion: body.policy_version,
    overrides: body.policy_overrides ? toPolicyOverrides(body.policy_overrides) : undefined,
  };
}

/** The answer to an evaluation, as the REST route and the MCP evaluate_action tool give it. */
export function toEvalAnswer(result: EvaluatedCall): z.infer<typeof EvalResponse> {
  const { input, evaluation, policyVersion, decisionId, timestamp, overridesUsed } = result;
  return {
    decision: evaluation.decision,
    reasons: evaluation.reasons,
    simulated_cost_cents: evaluation.simulatedCostCents,
    policy_version: policyVersion,
    approval_level_required: evaluation.approvalLevelRequired,
    approval_level_name: levelName(evaluation.approvalLevelRequired) ?? "owner_override",
    violations: evaluation.violations,
    timestamp: timestamp.toISOString(),
    decision_id: decisionId,
    policy_type: input.policyType,
    overrides_used: overridesUsed,
    explanation: { tokens: evaluation.tokens, checks: evaluation.checks },
  };
}
