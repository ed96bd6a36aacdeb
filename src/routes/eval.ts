// POST /api/v1/policy/eval: allow, deny or requires_approval for a skill call, with the reasons, the
// checks that decided, and a decision log entry. One database round trip (src/db/policy-state.ts).
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createDb } from "../db/client.ts";
import { type LoadedPolicyState, loadPolicyState } from "../db/policy-state.ts";
import { policyDecisions } from "../db/schema.ts";
import { can, inTenantScope } from "../domain/access.ts";
import { type Evaluation, type EvaluationInput, evaluate, type PolicyState } from "../domain/evaluation.ts";
import { levelName } from "../domain/vocabulary.ts";
import type { AppEnv } from "../env.ts";
import { protectedRoute } from "../lib/auth.ts";
import { ApiError } from "../lib/errors.ts";
import { MetricsBuffer } from "../lib/metrics.ts";
import { createRouter, errorResponse } from "../lib/openapi.ts";
import { Identifier, PolicyOverrides, PolicyType } from "./policy-schemas.ts";

/** Largest `payload` accepted, serialized: a skill call's arguments, not a document store. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

const EvalBody = z
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
  check: z.enum(["capability", "budget", "cost_ceiling", "token_ceiling", "approval_level"]),
  outcome: z.enum(["pass", "deny", "require_approval", "skipped"]),
  detail: z.string(),
  rule: z.record(z.string(), z.unknown()).nullable(),
  level: z.number().int().optional(),
});

export const EvalResponse = z
  .object({
    decision: z.enum(["allow", "deny", "requires_approval"]),
    reasons: z.array(z.string()),
    simulated_cost_cents: z.number().int(),
    policy_version: z.number().int(),
    approval_level_required: z.number().int().openapi({ description: "1 auto_approve … 5 owner_override" }),
    approval_level_name: z.string(),
    violations: z.array(
      z.object({
        type: z.string(),
        check: z.string(),
        severity: z.enum(["hard", "soft"]),
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

const route = protectedRoute("policy:evaluate", {
  method: "post",
  path: "/api/v1/policy/eval",
  tags: ["policy"],
  summary: "Evaluate a skill call against policy",
  request: { body: { required: true, content: { "application/json": { schema: EvalBody } } } },
  responses: {
    200: { description: "The decision", content: { "application/json": { schema: EvalResponse } } },
    400: errorResponse("Invalid body"),
    409: errorResponse("policy_version is not the current policy-set version"),
    413: errorResponse("Body or payload too large"),
  },
});

type Overrides = z.infer<typeof PolicyOverrides>;

/** The stored state with each kind the overrides name replaced by the proposed rules. */
function applyOverrides(state: PolicyState, overrides: Overrides): PolicyState {
  return {
    ...state,
    approvalLevels:
      overrides.approval_levels?.map((row) => ({
        id: null,
        tenantId: row.tenant_id,
        agentId: row.agent_id,
        skillId: row.skill_id,
        approvalLevel: row.approval_level,
        autoApproveMaxCostCents: row.auto_approve_max_cost_cents,
        autoApproveMaxTokens: row.auto_approve_max_tokens,
        escalateTo: row.escalate_to,
        escalationTimeoutSeconds: row.escalation_timeout_seconds,
        requiredApprovals: row.required_approvals,
        enabled: row.enabled,
      })) ?? state.approvalLevels,
    capabilityRules:
      overrides.capability_rules?.map((rule) => ({
        id: null,
        tenantId: rule.tenant_id,
        agentId: rule.agent_id,
        skillPattern: rule.skill_pattern,
        effect: rule.effect,
        approvalLevel: rule.approval_level,
        enabled: rule.enabled,
      })) ?? state.capabilityRules,
    budgets:
      overrides.budgets?.map((budget) => ({
        id: null,
        tenantId: budget.tenant_id,
        agentId: budget.agent_id,
        period: budget.period,
        limitCents: budget.limit_cents,
        enforcement: budget.enforcement,
        enabled: budget.enabled,
      })) ?? state.budgets,
    skillCosts:
      overrides.skill_costs?.map((cost) => ({
        skillId: cost.skill_id,
        baseCents: cost.base_cents,
        centsPer1kTokens: cost.cents_per_1k_tokens,
      })) ?? state.skillCosts,
    settings: {
      capabilityDefaultEffect:
        overrides.settings?.capability_default_effect ?? state.settings.capabilityDefaultEffect,
      unknownSkillCostCents:
        overrides.settings?.unknown_skill_cost_cents ?? state.settings.unknownSkillCostCents,
    },
  };
}

function newDecisionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return `dec_${Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

function countDecision(c: Context<AppEnv>, input: EvaluationInput, result: Evaluation): void {
  const metrics = c.var.metrics;
  metrics.count("nova_policy_decisions_total", {
    decision: result.decision,
    policy_type: result.decidingPolicyType,
  });
  if (result.violations.some((v) => v.type === "capability_denied"))
    metrics.count("nova_capability_violations_total");
  if (result.violations.some((v) => v.type === "budget_exceeded" && v.severity === "hard")) {
    metrics.count("nova_resource_budget_rejections_total");
  }
  c.var.log.info("policy_decision", {
    decision: result.decision,
    tenant_id: input.tenantId,
    skill_id: input.skillId,
    policy_type: result.decidingPolicyType,
  });
}

/** Written after the response (ctx.waitUntil); a failure is logged and counted, never silent. */
function logDecision(c: Context<AppEnv>, row: typeof policyDecisions.$inferInsert): void {
  const write = createDb(c.env)
    .insert(policyDecisions)
    .values(row)
    .then(
      () => undefined,
      (error: unknown) => {
        c.var.log.error("decision_log_write_failed", { decision_id: row.id, error });
        const metrics = new MetricsBuffer();
        metrics.count("nova_decision_log_failures_total");
        metrics.flush(c.env.METRICS, c.var.log);
      },
    );
  c.executionCtx.waitUntil(write);
}

export const evalRoutes = createRouter().openapi(route, async (c) => {
  const body = c.req.valid("json");
  const principal = c.var.principal;
  if (!inTenantScope(principal, body.tenant_id)) {
    throw new ApiError("forbidden", `This key may not act for tenant ${body.tenant_id}`);
  }
  if (body.policy_overrides && !can(principal, "policies:manage")) {
    throw new ApiError("forbidden", "Only admin keys may evaluate with policy_overrides");
  }
  if (new TextEncoder().encode(JSON.stringify(body.payload)).length > MAX_PAYLOAD_BYTES) {
    throw new ApiError("payload_too_large", `payload is larger than ${MAX_PAYLOAD_BYTES} bytes`);
  }

  const input: EvaluationInput = {
    skillId: body.skill_id,
    tenantId: body.tenant_id,
    agentId: body.agent_id ?? null,
    policyType: body.policy_type,
    payload: body.payload,
    simulateCost: body.simulate_cost,
  };
  const stored: LoadedPolicyState = await loadPolicyState(createDb(c.env), input);
  if (
    body.policy_version !== undefined &&
    body.policy_version !== null &&
    String(body.policy_version) !== String(stored.version)
  ) {
    throw new ApiError(
      "policy_version_mismatch",
      `Policy has changed: you sent version ${body.policy_version}, the current version is ${stored.version}`,
      { current_version: stored.version },
    );
  }
  const overridesUsed = body.policy_overrides !== undefined;
  const result = evaluate(
    input,
    body.policy_overrides ? applyOverrides(stored, body.policy_overrides) : stored,
  );
  // What-if evaluations are logged but kept out of the decision metrics: they decided nothing.
  if (!overridesUsed) countDecision(c, input, result);

  const decisionId = newDecisionId();
  const timestamp = new Date();
  logDecision(c, {
    id: decisionId,
    tenantId: input.tenantId,
    agentId: input.agentId,
    skillId: input.skillId,
    policyType: input.policyType,
    decision: result.decision,
    approvalLevelRequired: result.approvalLevelRequired,
    simulatedCostCents: result.simulatedCostCents,
    policyVersion: stored.version,
    overridesUsed,
    reasons: result.reasons,
    violations: result.violations,
    checks: result.checks,
    principalId: principal.principalId,
    keyId: principal.keyId,
    requestId: c.var.requestId,
    createdAt: timestamp,
  });

  return c.json(
    {
      decision: result.decision,
      reasons: result.reasons,
      simulated_cost_cents: result.simulatedCostCents,
      policy_version: stored.version,
      approval_level_required: result.approvalLevelRequired,
      approval_level_name: levelName(result.approvalLevelRequired) ?? "owner_override",
      violations: result.violations,
      timestamp: timestamp.toISOString(),
      decision_id: decisionId,
      policy_type: input.policyType as z.infer<typeof PolicyType>,
      overrides_used: overridesUsed,
      explanation: { tokens: result.tokens, checks: result.checks },
    },
    200,
  );
});
