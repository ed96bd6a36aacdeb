// GET /api/v1/policy/decisions[/{decision_id}]: the decision log written by every evaluation.
// Tenant-scoped keys see their tenant only; another tenant's decision answers 404, not 403.
import { z } from "@hono/zod-openapi";
import type { PolicyDecisionRow } from "../db/schema.ts";
import { DECISION_ID_PATTERN } from "../domain/ids.ts";
import { DECISIONS, levelName } from "../domain/vocabulary.ts";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { getDecision, searchDecisions } from "../services/evaluation.ts";
import { Identifier, PolicyType } from "./policy-schemas.ts";

const DecisionSchema = z
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

function toApi(row: PolicyDecisionRow): z.infer<typeof DecisionSchema> {
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

const getDecisionRoute = protectedRoute(
  "decisions:read",
  {
    method: "get",
    path: "/api/v1/policy/decisions/{decision_id}",
    tags: ["policy"],
    summary: "Read one logged decision",
    request: {
      params: z.object({
        decision_id: z
          .string()
          .regex(DECISION_ID_PATTERN, "a decision id is dec_ + 20 hex characters")
          .openapi({ param: { name: "decision_id", in: "path" } }),
      }),
    },
    responses: { 200: jsonResponse(DecisionSchema, "The decision") },
  },
  { 404: "No such decision (or not in your tenant)" },
);

const listDecisionsRoute = protectedRoute("decisions:read", {
  method: "get",
  path: "/api/v1/policy/decisions",
  tags: ["policy"],
  summary: "List logged decisions, newest first",
  request: {
    query: z.object({
      tenant_id: Identifier.optional(),
      agent_id: Identifier.optional(),
      skill_id: Identifier.optional(),
      decision: z.enum(DECISIONS).optional(),
      since: z.iso
        .datetime({ offset: true })
        .optional()
        .openapi({ description: "Inclusive lower bound (ISO 8601)" }),
      until: z.iso
        .datetime({ offset: true })
        .optional()
        .openapi({ description: "Exclusive upper bound (ISO 8601)" }),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
    }),
  },
  responses: { 200: jsonResponse(z.array(DecisionSchema), "Decisions") },
});

export const decisionRoutes = createRouter()
  .openapi(getDecisionRoute, async (c) => {
    const { decision_id } = c.req.valid("param");
    return c.json(toApi(await getDecision(c.var.services, c.var.principal, decision_id)), 200);
  })
  .openapi(listDecisionsRoute, async (c) => {
    const query = c.req.valid("query");
    const rows = await searchDecisions(c.var.services, c.var.principal, {
      tenantId: query.tenant_id,
      agentId: query.agent_id,
      skillId: query.skill_id,
      decision: query.decision,
      since: query.since ? new Date(query.since) : undefined,
      until: query.until ? new Date(query.until) : undefined,
      limit: query.limit,
      offset: query.offset,
    });
    return c.json(rows.map(toApi), 200);
  });
